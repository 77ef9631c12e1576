// Every forged or malformed control message on a CPU's port is refused and counted (netstat -s, /metrics over HTTP), and no table, epoch or ring changes.
import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { startNetisr, type NetisrHandle } from "@dfly/netisr";
import { InprocHub, subjects, type Transport } from "@dfly/transport";
import { NETMSG, decodeNetmsg, encodeIpfwNetmsg, encodeNetmsg, SockNetmsg, type TopologyMsg } from "@dfly/wire";
import { ipfwStateKey } from "@dfly/core";

const hubs: InprocHub[] = [];
const handles: NetisrHandle[] = [];
afterEach(async () => {
  for (const h of handles.splice(0)) await h.stop();
  for (const h of hubs.splice(0)) h.close();
});

const topo = (epoch: number): TopologyMsg => ({
  epoch,
  cpus: [0],
  rssKey: "",
  interfaces: [{ ifname: "ix0", model: "82599", mode: "interrupt", rings: 1, ringToCpu: [0], redirect: [0], addresses: ["198.18.0.1/24"] }],
});

async function setup(): Promise<{ h: NetisrHandle; t: Transport }> {
  const hub = new InprocHub();
  hubs.push(hub);
  const h = await startNetisr({ transport: await hub.connect(), cluster: "c", cpu: 0, topology: topo(5), metricsPort: 0, routes: [{ prefix: "10.0.0.0/8", ifname: "ix0" }] });
  handles.push(h);
  return { h, t: await hub.connect() };
}

const enc = new TextEncoder();
/** A control netmsg with any JSON body (the codec's framing: type, u32 id, JSON). */
function raw(type: number, id: number, body: unknown): Uint8Array {
  const j = enc.encode(JSON.stringify(body));
  const out = new Uint8Array(5 + j.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, id, true);
  out.set(j, 5);
  return out;
}

async function ask(t: Transport, subject: string, data: Uint8Array): Promise<{ ok: boolean; error?: string }> {
  const r = decodeNetmsg((await t.request(subject, data, { timeoutMs: 2000 })).data);
  if (typeof r === "string" || r.type !== NETMSG.reply) throw new Error("not a reply");
  return r;
}

const state = (h: NetisrHandle) => ({ digest: h.service.routes.digest(), routes: h.service.routes.size, epoch: h.service.netisr.epoch, rings: h.service.snapshot().interfaces });
const refused = (h: NetisrHandle) => h.service.statsBody().netisr;

describe("port gate: only the control may change a CPU, and only with what its API accepts", () => {
  it("refuses a route or topology on the open port (any bus client): notcontrol, nothing changes", async () => {
    const { h, t } = await setup();
    const before = state(h);
    const r = await ask(t, subjects.netisr("c", 0), encodeNetmsg.routeAdd(1, { prefix: "0.0.0.0/0", gateway: "198.18.0.66" }, 99));
    expect(r.ok).toBe(false);
    t.publish(subjects.netisr("c", 0), encodeNetmsg.topology({ ...topo(2 ** 31), cpus: [3], interfaces: [{ ...topo(0).interfaces[0], ringToCpu: [3] }] }));
    t.publish(subjects.netisr("c", 0), encodeNetmsg.routeDelete(2, "10.0.0.0/8", 100));
    const listen = await ask(t, subjects.netisr("c", 0), encodeNetmsg.socket(SockNetmsg.listen, 3, { listener: { id: "L9", laddr: 0, lport: 80, reuseport: false, backlog: 8, owner: "x" } }));
    expect(listen.ok).toBe(false);
    await t.flush();
    expect(state(h)).toEqual(before);
    expect(refused(h).port_refused_notcontrol).toBe(4);
    // The same route from the control's subject is applied.
    expect((await ask(t, subjects.ctl("c", 0), encodeNetmsg.routeAdd(4, { prefix: "192.0.2.0/24", ifname: "ix0" }, 1))).ok).toBe(true);
    expect(h.service.routes.size).toBe(2);
  });

  it("refuses routes the RouteService refuses (hand-listed: mtu −1, metric 0.5, iw −7, …) and keeps the route they would replace", async () => {
    const { h, t } = await setup();
    const before = state(h);
    const forged: unknown[] = [
      { prefix: "10.0.0.0/8", ifname: "ix0", mtu: -1 },
      { prefix: "10.0.0.0/8", ifname: "ix0", metric: 0.5 },
      { prefix: "10.0.0.0/8", ifname: "ix0", iw: -7 },
      { prefix: "10.0.0.0/8", ifname: "ix0", mtu: 67 },
      { prefix: "10.0.0.0/8", ifname: "ix0", mtu: 65536 },
      { prefix: "10.0.0.0/8", ifname: "ix0", metric: 2 ** 32 },
      { prefix: "10.0.0.0/8", ifname: "" },
      { prefix: "10.0.0.0/8", ifname: "0bad" },
      { prefix: "10.0.0.0/8", ifname: "ix0ix0ix0ix0ix0ix0" },
      { prefix: "10.0.0.0/8", gateway: "198.18.0" },
      { prefix: "10.0.0.0/8" },
      { prefix: "10.0.0.1/8", ifname: "ix0" },
      { prefix: "10.0.0.0/33", ifname: "ix0" },
      { prefix: "", ifname: "ix0" },
      { prefix: "x".repeat(300_000), ifname: "ix0" },
    ];
    for (const [i, route] of forged.entries()) expect((await ask(t, subjects.ctl("c", 0), raw(NETMSG.routeAdd, i + 1, { route, revision: 7 }))).ok).toBe(false);
    expect((await ask(t, subjects.ctl("c", 0), raw(NETMSG.routeAdd, 50, { route: { prefix: "10.0.0.0/8" }, revision: -1 }))).ok).toBe(false);
    expect((await ask(t, subjects.ctl("c", 0), raw(NETMSG.routeDelete, 51, { prefix: "10.0.0.0/99", revision: 8 }))).ok).toBe(false);
    expect(state(h)).toEqual(before);
    const s = refused(h);
    expect(s.port_refused_badroute).toBe(forged.length + 1);
    expect(s.port_refused_badbody).toBe(1);
  });

  it("property: any route with one field outside the API's rules is refused and the digest stays", async () => {
    const { h, t } = await setup();
    const before = state(h);
    // Out-of-range values by the RouteService's rules (hand-written): mtu 0 or 68–65535, u32 integers.
    const bad = fc.oneof(
      fc.record({ mtu: fc.oneof(fc.integer({ min: 1, max: 67 }), fc.integer({ min: 65536, max: 2 ** 40 }), fc.integer({ max: -1 }), fc.double({ noInteger: true })) }),
      fc.record({ metric: fc.oneof(fc.integer({ max: -1 }), fc.double({ noInteger: true }), fc.integer({ min: 2 ** 32, max: 2 ** 50 }), fc.string()) }),
      fc.record({ iw: fc.oneof(fc.integer({ max: -1 }), fc.double({ noInteger: true }), fc.constant("4")) }),
      fc.record({ ifname: fc.oneof(fc.constant(""), fc.stringMatching(/^[0-9_.-][A-Za-z0-9]{0,5}$/), fc.string({ minLength: 16, maxLength: 40 }).map((s) => "a" + s)) }),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(bad, async (field) => {
        n++;
        const r = await ask(t, subjects.ctl("c", 0), raw(NETMSG.routeAdd, n, { route: { prefix: "10.0.0.0/8", ifname: "ix0", ...field }, revision: n }));
        expect(r.ok).toBe(false);
        expect(state(h)).toEqual(before);
      }),
      { numRuns: 150 },
    );
    const s = refused(h);
    expect(s.port_refused_badroute + s.port_refused_badbody).toBe(n);
  });

  it("refuses topologies outside the control's shape and bounds, the 200,000-ring one without opening a subscription, and stale epochs", async () => {
    const { h, t } = await setup();
    const before = state(h);
    const ix = topo(0).interfaces[0];
    const forged: TopologyMsg[] = [
      { ...topo(6), interfaces: [{ ...ix, rings: 2.5 }] },
      { ...topo(6), interfaces: [{ ...ix, ifname: "" }] },
      { ...topo(6), interfaces: [{ ...ix, ifname: "ix 0" }] },
      { ...topo(6), interfaces: [{ ...ix, addresses: ["198.18.0.300/24"] }] },
      { ...topo(6), interfaces: [{ ...ix, addresses: ["nope"] }] },
      { ...topo(6), interfaces: [{ ...ix, ringToCpu: [7] }] },
      { ...topo(6), interfaces: [{ ...ix, redirect: [1] }] },
      { ...topo(6), interfaces: [{ ...ix, rings: 200_000, ringToCpu: new Array<number>(200_000).fill(0) }] },
      { ...topo(6), cpus: [0, 0] },
      { ...topo(6), cpus: [0, 1.5] },
      { ...topo(6), epoch: -1 },
      { ...topo(6), rssKey: "zz" },
      { ...topo(6), interfaces: [ix, ix] },
    ];
    const heap = process.memoryUsage().heapUsed;
    for (const f of forged) t.publish(subjects.ctl("c", 0), encodeNetmsg.topology(f));
    t.publish(subjects.ctl("c", 0), encodeNetmsg.topology({ ...topo(4), cpus: [0] }));
    await t.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(state(h)).toEqual(before);
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(64 << 20);
    const s = refused(h);
    // epoch −1 and a fractional CPU id fail the codec already (badbody); the rest its bounds.
    expect([s.port_refused_badtopology, s.port_refused_badbody]).toEqual([forged.length - 2, 2]);
    expect(s.port_refused_staleepoch).toBe(1);
    // A well-formed newer one from the control is installed.
    t.publish(subjects.ctl("c", 0), encodeNetmsg.topology(topo(6)));
    await t.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(h.service.netisr.epoch).toBe(6);
  });

  it("refuses a listen on an address that is not the host's; counts show in netstat -s and in /metrics over HTTP", async () => {
    const { h, t } = await setup();
    const listen = (id: string, laddr: number) =>
      ask(t, subjects.ctl("c", 0), encodeNetmsg.socket(SockNetmsg.listen, 1, { listener: { id, laddr, lport: 8001, reuseport: false, backlog: 8, owner: "app" } }));
    expect((await listen("L1", 0x0a000001)).ok).toBe(false); // 10.0.0.1
    expect((await listen("L2", 0xc6120001)).ok).toBe(true); // 198.18.0.1, ix0's
    expect((await ask(t, subjects.ctl("c", 0), raw(SockNetmsg.listen, 2, { listener: { id: "", laddr: -1 } }))).ok).toBe(false);
    const bad = new Uint8Array([NETMSG.topology, 0, 0, 0, 0, 0x7b]);
    t.publish(subjects.ctl("c", 0), bad);
    t.publish(subjects.netisr("c", 0), bad);
    await t.flush();
    const s = refused(h);
    expect([s.port_refused_badlistener, s.port_refused_badbody, s.port_refused_notcontrol]).toEqual([2, 1, 1]);
    const text = await (await fetch(`http://${h.metricsAddr}/metrics`)).text();
    expect(text).toMatch(/^dfly_netisr_port_refused_total\{cpu="0",reason="badlistener"\} 2$/m);
    expect(text).toMatch(/^dfly_netisr_port_refused_total\{cpu="0",reason="notcontrol"\} 1$/m);
    expect(text).toMatch(/^dfly_netisr_bad_batches_total\{cpu="0"\} 0$/m);
    expect(text).toMatch(/^dfly_netisr_bad_port_msgs_total\{cpu="0"\} 0$/m);
  });

  it("takes a leaving CPU's ipfw states on the open port (CPU-to-CPU traffic), but not an ipfw rule set", async () => {
    const { h, t } = await setup();
    const fw = h.service.netisr.ipfw!;
    const set = await ask(t, subjects.netisr("c", 0), raw(NETMSG.ipfwSet, 1, { revision: 9, set: { rules: ["100 allow ip from any to any"] } }));
    expect(set.ok).toBe(false);
    expect(set.error).toMatch(/notcontrol/);
    // 198.18.0.2:40000 → 198.18.0.1:8080, keyed with the lower address first as ipfw keys a flow.
    const k = ipfwStateKey(new Int32Array(4), 0xc6120002, 0xc6120001, 40000, 8080);
    t.publish(subjects.netisr("c", 0), encodeIpfwNetmsg.states([{ a: k[0], b: k[1], ports: k[2], proto: 6, ttl: 60, tcp: 0x12, rule: 200, src: 0xc6120002 | 0 }]));
    await t.flush();
    await new Promise((r) => setTimeout(r, 50));
    expect(fw.chain.states.has(k, 6, fw.chain.now)).toBe(true);
    expect(refused(h).port_refused_notcontrol).toBe(1);
  });
});
