/**
 * SocketService over real gRPC with real netisr CPUs (in this process, in-process bus):
 * listeners installed on every CPU before Listen returns, SO_REUSEPORT slots the same on every
 * CPU, typed errors, a CPU that joins later loads every listener, CloseListener runs on every
 * CPU and names the heir, ListPcbs walks CPU after CPU, and listeners survive a control restart.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ControlClient, GrpcStatus, startControl, type ControlHandle } from "@dfly/control";
import { nicInterfaceSpec } from "@dfly/nic";
import { startNetisr, type NetisrHandle } from "@dfly/netisr/internal";
import { InprocHub, type Transport } from "@dfly/transport";
import { buildTcpPacket, ipAddr, TcpFlags } from "@dfly/core";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function until<T>(f: () => T | undefined, what: string, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function cluster(cpus: number, metrics = false): Promise<{ t: Transport; control: ControlHandle; cpus: NetisrHandle[]; client: ControlClient }> {
  const hub = new InprocHub();
  const t = await hub.connect();
  const control = await startControl({ transport: t, grpcPort: 0, interfaces: [nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt" })] });
  const hs: NetisrHandle[] = [];
  for (let cpu = 0; cpu < cpus; cpu++) {
    hs.push(await startNetisr({ transport: t, cluster: "dfly", cpu, controlAddr: control.grpcAddr, ...(metrics ? { metricsPort: 0 } : {}) }));
  }
  await Promise.all(hs.map((h) => h.whenReady()));
  const client = new ControlClient(control.grpcAddr);
  cleanups.push(async () => {
    client.close();
    for (const h of hs) await h.stop();
    await control.stop(500);
    await t.close();
    hub.close();
  });
  return { t, control, cpus: hs, client };
}

const code = async (p: Promise<unknown>) => {
  try {
    await p;
    return "ok";
  } catch (e) {
    return GrpcStatus[(e as { code: number }).code];
  }
};

describe("SocketService", () => {
  it("listen on every CPU with the same slots; errors typed; late CPU loads them; close names the heir; ListPcbs; restart keeps them", async () => {
    const c = await cluster(2);
    const a = await c.client.listen({ port: 8080, reuseport: true, owner: "prog-a" });
    const b = await c.client.listen({ port: 8080, reuseport: true, owner: "prog-b", backlog: 64, nodelay: true, sndbuf: 131072 });
    expect([a.groupIndex, a.groupSize, b.groupIndex, b.groupSize]).toEqual([0, 1, 1, 2]);
    for (const h of c.cpus) {
      const host = h.tcp!.host!;
      expect(host.listener(a.listenerId)?.index).toBe(0);
      expect(host.listener(b.listenerId)?.index).toBe(1);
      expect(host.listener(b.listenerId)?.ls.qlimit).toBe(64);
      expect(host.pcb.pcbinfo[0].localGroup(0, 8080)?.count).toBe(2);
    }
    expect(await code(c.client.listen({ port: 8080, reuseport: false, owner: "prog-c" }))).toBe("ALREADY_EXISTS");
    expect(await code(c.client.listen({ port: 8080, reuseport: true, owner: "bad.owner" }))).toBe("INVALID_ARGUMENT");
    expect(await code(c.client.listen({ port: 0, reuseport: true, owner: "x" }))).toBe("INVALID_ARGUMENT");
    expect(await code(c.client.listen({ address: "300.1.1.1", port: 81, owner: "x" }))).toBe("INVALID_ARGUMENT");

    // A CPU that starts later gets every listener.
    const late = await startNetisr({ transport: c.t, cluster: "dfly", cpu: 2, controlAddr: c.control.grpcAddr });
    cleanups.unshift(() => late.stop());
    await late.whenReady();
    await until(() => late.tcp?.host?.listener(b.listenerId), "the late CPU's listeners");
    expect(late.tcp!.host!.listener(a.listenerId)!.index).toBe(0);
    // The listening socket's options reach every CPU, the late one too (from the listing).
    for (const h of [...c.cpus, late]) expect(h.tcp!.host!.listener(b.listenerId)!.spec).toMatchObject({ nodelay: true, sndbuf: 131072 });
    expect(late.tcp!.host!.listener(a.listenerId)!.spec.nodelay).toBeUndefined();

    const list = await c.client.listListeners();
    expect(list.listeners.map((l) => [l.listenerId, l.port, l.reuseport, l.groupIndex, l.owner])).toEqual([
      [a.listenerId, 8080, true, 0, "prog-a"],
      [b.listenerId, 8080, true, 1, "prog-b"],
    ]);
    expect(list.listeners[0].queues.map((q) => q.cpu).sort()).toEqual([0, 1, 2]);

    expect(await code(c.client.closeListener(a.listenerId, "bsd"))).toBe("INVALID_ARGUMENT");
    const closed = await c.client.closeListener(a.listenerId);
    expect(closed).toMatchObject({ heirListenerId: b.listenerId, migrated: 0, dropped: 0, policy: "dragonfly" });
    for (const h of [...c.cpus, late]) expect(h.tcp!.host!.listener(a.listenerId)).toBeUndefined();
    expect(await code(c.client.closeListener(a.listenerId))).toBe("NOT_FOUND");

    const pcbs = await c.client.listPcbs(1);
    expect(pcbs.unreachableCpus).toEqual([]);
    expect(pcbs.pcbs.map((p) => [p.cpu, p.state, p.localPort, p.listenerId, p.groupIndex, p.qlimit])).toEqual([
      [0, "LISTEN", 8080, b.listenerId, 1, 64],
      [1, "LISTEN", 8080, b.listenerId, 1, 64],
      [2, "LISTEN", 8080, b.listenerId, 1, 64],
    ]);

    // A restarted control loads the listeners from its KV store.
    await c.control.stop(500);
    const again = await startControl({ transport: c.t, grpcPort: 0 });
    cleanups.unshift(() => again.stop(500));
    expect(again.parts.listeners!.all().map((l) => [l.id, l.index])).toEqual([[b.listenerId, 1]]);
    // It keeps the CPUs too (cluster state in KV): a new listener reaches all three.
    const next = await again.parts.listeners!.listen({ laddr: 0, lport: 9090, reuseport: false, backlog: 0, owner: "p" });
    expect(next.applied).toEqual([0, 1, 2]);
    expect(next.id).not.toBe(b.listenerId);
    expect(next.id).not.toBe(a.listenerId);
    for (const h of [...c.cpus, late]) expect(h.tcp!.host!.listener(next.id)?.ls.lport).toBe(9090);
  });
});

describe("netisr /metrics: the TCP and socket series", () => {
  it("connections by state, connect migrations, accept-queue depth per listener, listener migrations; TCP drops by tcpstat name", async () => {
    const c = await cluster(1, true);
    const l = await c.client.listen({ port: 80, reuseport: true, owner: "web" });
    const h = c.cpus[0];
    // A SYN to a port nobody listens on (RST, noport) and a segment with a bad TCP checksum.
    const syn = buildTcpPacket({ src: ipAddr("198.18.0.10"), dst: ipAddr("198.18.0.1"), sport: 4000, dport: 81, seq: 1, flags: TcpFlags.SYN });
    const bad = buildTcpPacket({ src: ipAddr("198.18.0.10"), dst: ipAddr("198.18.0.1"), sport: 4001, dport: 80, seq: 1, flags: TcpFlags.SYN });
    bad[37] ^= 0x01; // the TCP checksum's low byte
    for (const f of [syn, bad]) expect(h.tcp!.localInput(6, f, 0, 20, f.length)).toBe(true);
    const body = await (await fetch(`http://${h.metricsAddr}/metrics`)).text();
    expect(body).toContain('dfly_tcp_connections{cpu="0",state="ESTABLISHED"} 0');
    expect(body).toContain('dfly_tcp_connect_migrations_total{cpu="0"} 0');
    expect(body).toContain(`dfly_so_accept_queue_depth{cpu="0",listener="${l.listenerId}"} 0`);
    expect(body).toContain('dfly_so_listener_migrations_total{cpu="0",policy="dragonfly",result="moved"} 0');
    expect(body).toContain('dfly_ip_dropped_total{cpu="0",reason="noport"} 1');
    expect(body).toContain('dfly_ip_dropped_total{cpu="0",reason="rcvbadsum"} 1');
    expect(body).toMatch(/dfly_tcp_segments_total\{cpu="0",dir="in"\} 1\b/);
  });
});
