// Both directions of every flow of a real capture meet their ipfw state on the CPU that created it: the capture is
// steered as the NIC steers it (Toeplitz hash, redirection table, 2 RX rings for 4 CPUs, so half the frames are
// redispatched to their owner), and a stateful rule set runs on each of 4 netisr CPUs. The expectations come from the
// capture itself, counted by this test: which flows open with a SYN, how many packets each has.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ipPacketHash, rawIpOf, readPcap, RouteTable } from "@dfly/core";
import { ifnetTopology, nicInterfaceSpec } from "@dfly/nic";
import { FrameBatchWriter } from "@dfly/transport";
import type { TopologyMsg } from "@dfly/wire";
import { IpfwHook, Netisr } from "@dfly/netisr/internal";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "../../..");
const shared = join(root, "../../shared/testdata/http_espn.pcapng");
const capture = existsSync(shared) ? shared : join(root, "test/fixtures/http_espn.pcapng");

const RULES = ["100 check-state", "200 allow tcp from any to any setup keep-state", "300 allow udp from any to any keep-state", "400 deny tcp from any to any"];
const NCPU = 4;

/** The IPv4 header checksum, summed here (frames the stack drops before ipfw are left out of the reference). */
function ipHeaderOk(f: Uint8Array): boolean {
  if (f.length < 20 || f[0] >> 4 !== 4) return false;
  const hl = (f[0] & 15) * 4;
  let s = 0;
  for (let i = 0; i < hl; i += 2) s += (f[i] << 8) | f[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff && f[12] !== 127 && f[16] !== 127;
}

describe("ipfw states over a replay of http_espn.pcapng on 4 CPUs", () => {
  it("no cross-CPU state lookup; every packet of a flow that opened with a SYN passes on its state", () => {
    const file = readPcap(new Uint8Array(readFileSync(capture)));
    const frames = file.records.map((r) => rawIpOf(r.linktype, r.data)).filter((f): f is Uint8Array => f !== undefined && ipHeaderOk(f));

    // Reference, from the capture: per TCP or UDP flow (either direction), opened by a SYN (UDP: by any packet)? its
    // packets, and its hash (for its owner CPU).
    const flows = new Map<string, { syn: boolean; tcp: boolean; packets: number; hash: number }>();
    let tcpPackets = 0;
    for (const f of frames) {
      if (f[9] !== 6 && f[9] !== 17) continue;
      if (f[9] === 6) tcpPackets++;
      const hl = (f[0] & 15) * 4;
      const a = `${f.subarray(12, 16).join(".")}:${(f[hl] << 8) | f[hl + 1]}`;
      const b = `${f.subarray(16, 20).join(".")}:${(f[hl + 2] << 8) | f[hl + 3]}`;
      const key = `${f[9]} ${a < b ? `${a}-${b}` : `${b}-${a}`}`;
      const fl = f[hl + 13];
      let e = flows.get(key);
      if (!e) flows.set(key, (e = { syn: f[9] === 17 || (fl & 0x12) === 0x02, tcp: f[9] === 6, packets: 0, hash: ipPacketHash(f) }));
      e.packets++;
    }
    const opened = [...flows.values()].filter((e) => e.syn);
    const openedPackets = opened.reduce((n, e) => n + e.packets, 0);
    expect(opened.length).toBeGreaterThan(10);

    const cpus = Array.from({ length: NCPU }, (_, i) => i);
    const interfaces = ["ix0", "ix1"].map((ifname) => ifnetTopology(nicInterfaceSpec({ ifname, model: "82599", mode: "interrupt", rings: 2 }), cpus));
    const topo: TopologyMsg = { epoch: 1, cpus, interfaces, rssKey: "6d5a".repeat(20) };
    const port: { cpu: number; batch: Uint8Array }[] = [];
    const routes = new RouteTable();
    routes.add("0.0.0.0/0", { ifname: "ix1" });
    const nis = cpus.map(
      (cpu) =>
        new Netisr({
          cpu,
          topology: topo,
          routes,
          icmplim: 0,
          // Input only: each packet meets ipfw once (forwarded ones would meet it again on the way out).
          forwarding: false,
          output: { tx: () => undefined, redispatch: (to, batch) => port.push({ cpu: to, batch }) },
        }),
    );
    const hooks = nis.map((ni) => {
      const h = new IpfwHook(ni, { stateMax: 4096 });
      h.install({ rules: RULES, tables: {} }, 1);
      ni.ipfw = h;
      return h;
    });
    // The audit probe: on a miss, does another CPU hold this flow's state?
    hooks.forEach((h, i) => {
      h.chain.peerProbe = (k, proto) => hooks.some((o, j) => j !== i && o.chain.states.has(k, proto, o.chain.now));
    });

    const ix0 = interfaces[0];
    let redispatched = 0;
    for (const f of frames) {
      const hash = ipPacketHash(f);
      const ring = ix0.redirect[hash & (ix0.redirect.length - 1)];
      const w = new FrameBatchWriter(64 + f.length);
      w.buffer.set(f, w.reserve(f.length, hash, 0));
      nis[ix0.ringToCpu[ring]].rxBatch(0, ring, w.take());
      while (port.length > 0) {
        const m = port.shift()!;
        redispatched++;
        nis[m.cpu].portFrames(m.batch);
      }
    }
    expect(redispatched).toBeGreaterThan(0);

    const sum = (f: (h: IpfwHook) => number) => hooks.reduce((n, h) => n + f(h), 0);
    expect(sum((h) => h.chain.stats.crossCpuLookups)).toBe(0);
    expect(sum((h) => h.chain.stats.stateCreated)).toBe(opened.length);
    // Every later packet of an opened flow, both directions, found its state where it was created.
    expect(sum((h) => h.chain.stats.stateHits)).toBe(openedPackets - opened.length);
    // What is denied is exactly the TCP of flows the capture joined mid-way.
    const openedTcp = opened.filter((e) => e.tcp).reduce((n, e) => n + e.packets, 0);
    expect(sum((h) => h.chain.stats.rejected[0])).toBe(tcpPackets - openedTcp);
    // Each flow's state is on the CPU netisr_hashcpu names for its hash: (h & 127) % ncpus.
    const perCpu = cpus.map((c) => opened.filter((e) => (e.hash & 127) % NCPU === c).length);
    expect(hooks.map((h) => h.chain.states.size)).toEqual(perCpu);
  });
});
