/**
 * A listener close that a CPU missed while it was unreachable is applied when it is reachable
 * again (issue 4): real gRPC control, two netisr CPUs on the in-process bus, a peer TcpHost on
 * the wire. CPU 1's port is made deaf (every message on `dfly.netisr.1` dropped) for the close,
 * which the control reports as failed on CPU 1; CPU 1 keeps the listeners until it reconciles
 * with the control's list —
 *
 *   - at its re-registration (the control had dropped it): the SO_REUSEPORT member's
 *     completed-but-not-accepted connections go to the heir (DragonFly policy), the plain
 *     listener's are reset (no heir), both counted as listener migrations, and a SYN to the
 *     closed plain port is answered with a RST;
 *   - periodically (`listenerSyncMs`); a ListListeners call that fails changes nothing and is
 *     counted.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ControlClient, startControl, type ControlHandle } from "@dfly/control";
import { nicInterfaceSpec } from "@dfly/nic";
import { startNetisr, TcpHost, type NetisrHandle, type So, type SoOwner } from "@dfly/netisr/internal";
import { buildTcpPacket, ipAddr, ListenerMigrationResult, ListenerPolicy, type TcpSeg } from "@dfly/core";
import { InprocHub, subjects, type Transport } from "@dfly/transport";
import { wirePeerToTx } from "../../support/tcp-peer.js";

const HOST = ipAddr("198.18.0.1");
const PEER = ipAddr("198.18.0.10");

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f().catch(() => undefined);
});

async function until(f: () => boolean, what: string, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `t`, except that while `gate.down` every message on `port` is dropped (an unreachable CPU). */
function gated(t: Transport, port: string, gate: { down: boolean }): Transport {
  return new Proxy(t, {
    get(target, prop) {
      if (prop === "subscribe") {
        return (subject: string, handler: Parameters<Transport["subscribe"]>[1], opts?: { queue?: string }) =>
          target.subscribe(subject, subject === port ? (m) => void (gate.down ? undefined : handler(m)) : handler, opts);
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

interface Rig {
  t: Transport;
  control: ControlHandle;
  stopControl(): Promise<void>;
  client: ControlClient;
  cpus: NetisrHandle[];
  gate: { down: boolean };
  peer: TcpHost;
  rstToPeer: number;
  /** A peer port whose connection to `dport` CPU 1 owns. */
  portOnCpu1(dport: number, from: number): number;
}

async function rig(listenerSyncMs: number): Promise<Rig> {
  const hub = new InprocHub();
  const t = await hub.connect();
  cleanups.push(async () => {
    await t.close();
    hub.close();
  });
  const control = await startControl({
    transport: t,
    grpcPort: 0,
    heartbeatMs: 200,
    applyTimeoutMs: 300,
    interfaces: [nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt" })],
  });
  let stopped = false;
  const stopControl = async () => {
    if (stopped) return;
    stopped = true;
    await control.stop(200);
  };
  cleanups.push(stopControl);
  const client = new ControlClient(control.grpcAddr);
  cleanups.push(async () => client.close());
  await client.addRoute({ prefix: "198.18.0.0/24", ifname: "ix0" });
  const gate = { down: false };
  const cpus: NetisrHandle[] = [];
  for (const cpu of [0, 1]) {
    const h = await startNetisr({
      transport: cpu === 1 ? gated(t, subjects.ctl("dfly", 1), gate) : t,
      cluster: "dfly",
      cpu,
      controlAddr: control.grpcAddr,
      tcp: { listenerSyncMs, listenerSyncDeadlineMs: 1000, rescale: { graceMs: 0, announceMs: 0 } },
    });
    cleanups.push(() => h.stop());
    cpus.push(h);
  }
  await Promise.all(cpus.map((h) => h.whenReady()));
  await until(() => cpus.every((h) => h.service.netisr.liveCpus.length === 2), "both CPUs in the topology");
  const r: Rig = {
    t,
    control,
    stopControl,
    client,
    cpus,
    gate,
    rstToPeer: 0,
    peer: undefined as unknown as TcpHost,
    portOnCpu1: (dport, from) => {
      const h1 = cpus[1];
      for (let p = from; p < from + 10000; p++) {
        if (h1.service.netisr.ownerOf(h1.tcp!.ensureHost().hashOf(PEER, p, HOST, dport)) === 1) return p;
      }
      throw new Error("no port");
    },
  };
  // The NIC's part: peer frames to the CPU that owns their hash; the CPUs' TX rings to the peer.
  const deliver = (f: Uint8Array) => {
    const h1 = cpus[1];
    const hash = h1.tcp!.ensureHost().hashOf(PEER, (f[20] << 8) | f[21], HOST, (f[22] << 8) | f[23]);
    const owner = cpus[h1.service.netisr.ownerOf(hash)];
    queueMicrotask(() => owner.tcp!.localInput(6, f, 0, 20, f.length));
  };
  r.peer = new TcpHost({ ncpus: 1, output: (_c, seg: TcpSeg) => deliver(buildTcpPacket(seg)) });
  const unwire = wirePeerToTx(t, "dfly", r.peer, () => void r.rstToPeer++);
  cleanups.push(async () => unwire());
  await t.flush();
  return r;
}

const quiet: SoOwner = { soEvent: () => undefined };

const failedCpus = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return "none";
  } catch (e) {
    return String((e as { metadata?: { get(k: string): unknown[] } }).metadata?.get("dfly-failed-cpus")?.[0] ?? (e as Error).message);
  }
};

describe("listener reconciliation: a close missed while a CPU was unreachable", () => {
  it("is applied when the CPU re-registers: the member's queue goes to the heir, the plain listener's is reset, its port answers RST", async () => {
    const r = await rig(0); // no periodic run: only the re-registration can repair CPU 1
    const [h0, h1] = r.cpus;
    // Slot 0 is the heir (the last other member), slot 1 the member to close: with two CPUs
    // and two members, the SYNs CPU 1 owns all pick slot 1 (both are (h & 127) % 2).
    const b = await r.client.listen({ port: 8080, reuseport: true, owner: "prog-b" });
    const a = await r.client.listen({ port: 8080, reuseport: true, owner: "prog-a" });
    const p = await r.client.listen({ port: 81, reuseport: false, owner: "prog-p" });
    expect([b.groupIndex, a.groupIndex]).toEqual([0, 1]);
    const host1 = h1.tcp!.host!;
    const ids = [a.listenerId, b.listenerId, p.listenerId];
    for (const h of r.cpus) for (const id of ids) expect(h.tcp!.host!.listener(id)).toBeDefined();

    // Connections completed on CPU 1 and never accepted: 8 to the group, 2 to the plain port.
    const socks: So[] = [];
    let port = 20000;
    for (let i = 0; i < 8; i++) socks.push(r.peer.connect(0, null, PEER, HOST, 8080, quiet, {}, (port = r.portOnCpu1(8080, port + 1))));
    const plain: So[] = [];
    for (let i = 0; i < 2; i++) plain.push(r.peer.connect(0, null, PEER, HOST, 81, quiet, {}, (port = r.portOnCpu1(81, port + 1))));
    await until(() => [...socks, ...plain].every((s) => s.state === "ESTABLISHED"), "the handshakes");
    const qa = host1.listener(a.listenerId)!.ls.qlen;
    const qb = host1.listener(b.listenerId)!.ls.qlen;
    expect([qa, qb]).toEqual([8, 0]);
    expect(host1.listener(p.listenerId)!.ls.qlen).toBe(2);
    expect(h0.tcp!.host!.listener(a.listenerId)!.ls.qlen).toBe(0);

    // CPU 1 unreachable: both closes are reported failed there, CPU 0 applies them.
    r.gate.down = true;
    expect(await failedCpus(r.client.closeListener(a.listenerId))).toBe("1");
    expect(await failedCpus(r.client.closeListener(p.listenerId))).toBe("1");
    r.gate.down = false;
    expect(h0.tcp!.host!.listener(a.listenerId)).toBeUndefined();
    expect(h0.tcp!.host!.listener(p.listenerId)).toBeUndefined();
    // CPU 1 still has both (nothing has told it) and its queues as they were.
    await new Promise((res) => setTimeout(res, 300));
    expect(host1.listener(a.listenerId)?.ls.qlen).toBe(qa);
    expect(host1.listener(p.listenerId)?.ls.qlen).toBe(2);
    const rstBefore = r.rstToPeer;

    // The control drops CPU 1 (as when its heartbeats stopped); CPU 1's next heartbeat hears it,
    // it registers again and reconciles its listeners with the control's list.
    const syncs = h1.tcp!.stats.listenerSyncs;
    await r.client.deregister(1);
    await until(() => host1.listener(a.listenerId) === undefined && host1.listener(p.listenerId) === undefined, "CPU 1 closing the listeners it missed");
    expect(h1.tcp!.stats.listenerSyncs).toBeGreaterThan(syncs);
    expect(h1.tcp!.stats.listenerSyncClosed).toBe(2);
    expect(host1.listener(b.listenerId)).toBeDefined();

    // DragonFly policy: the closed member's connections are now in the heir's queue on CPU 1.
    expect(host1.listener(b.listenerId)!.ls.qlen).toBe(8);
    const mig = host1.pcb.stats[1].listenerMigrations[ListenerPolicy.DRAGONFLY];
    expect(mig[ListenerMigrationResult.MOVED]).toBe(qa);
    // No heir for the plain listener: its two connections are reset.
    expect(mig[ListenerMigrationResult.RESET]).toBe(2);
    await until(() => plain.every((s) => s.state === "CLOSED"), "the peer seeing the plain listener's connections reset");
    expect(r.rstToPeer - rstBefore).toBe(2);
    expect(socks.every((s) => s.state === "ESTABLISHED")).toBe(true);

    // A SYN to the closed plain port on CPU 1 meets no listener: RST.
    const late = r.peer.connect(0, null, PEER, HOST, 81, quiet, {}, r.portOnCpu1(81, port + 1));
    await until(() => late.state === "CLOSED", "the refused connection");
    expect(r.rstToPeer - rstBefore).toBe(3);

    // The heir's owner takes all eight on CPU 1.
    const heir = host1.listener(b.listenerId)!;
    let n = 0;
    while (host1.accept(heir, quiet)) n++;
    expect(n).toBe(8);
  });

  it("is applied by the periodic run; a failing ListListeners changes nothing and is counted", async () => {
    const r = await rig(150);
    const [h0, h1] = r.cpus;
    const a = await r.client.listen({ port: 8080, reuseport: true, owner: "prog-a" });
    const b = await r.client.listen({ port: 8080, reuseport: true, owner: "prog-b" });
    const host1 = h1.tcp!.host!;
    // A listener CPU 1 has that did not come from the control: never touched by the reconciliation.
    host1.listenInstall({ id: "local-9", laddr: 0, lport: 9999, reuseport: false, backlog: -1, owner: "local" });

    r.gate.down = true;
    expect(await failedCpus(r.client.closeListener(a.listenerId))).toBe("1");
    expect(h0.tcp!.host!.listener(a.listenerId)).toBeUndefined();
    await until(() => host1.listener(a.listenerId) === undefined, "the periodic reconciliation closing it on CPU 1");
    r.gate.down = false;
    expect(h1.tcp!.stats.listenerSyncClosed).toBe(1);
    expect(host1.listener(b.listenerId)).toBeDefined();
    expect(host1.listener("local-9")).toBeDefined();

    // The control goes away: the runs fail, every listener stays as it was.
    const failed = h1.tcp!.stats.listenerSyncFailed;
    await r.stopControl();
    await until(() => h1.tcp!.stats.listenerSyncFailed > failed + 1, "failed reconciliations");
    expect(h1.tcp!.listenerSyncError).toBeTruthy();
    expect(host1.listener(b.listenerId)).toBeDefined();
    expect(host1.listener("local-9")).toBeDefined();
    await expect(h1.tcp!.reconcileListeners()).rejects.toThrow();
    expect(host1.listenerList().map((l) => l.id).sort()).toEqual([b.listenerId, "local-9"].sort());
  });

  it("is applied when heartbeats come back after failing (the control restarted, keeping its state)", async () => {
    const r = await rig(0); // no periodic run
    const [h0, h1] = r.cpus;
    const a = await r.client.listen({ port: 8080, reuseport: true, owner: "prog-a" });
    const b = await r.client.listen({ port: 8080, reuseport: true, owner: "prog-b" });
    const host1 = h1.tcp!.host!;
    r.gate.down = true;
    expect(await failedCpus(r.client.closeListener(a.listenerId))).toBe("1");
    r.gate.down = false;
    expect(h0.tcp!.host!.listener(a.listenerId)).toBeUndefined();
    expect(host1.listener(a.listenerId)).toBeDefined();

    // The control goes away for a few heartbeats (200 ms apart) and comes back on its address
    // with its KV state: CPU 1 is still registered there, its heartbeats simply succeed again.
    const port = Number(r.control.grpcAddr.split(":").pop());
    await r.stopControl();
    await new Promise((res) => setTimeout(res, 800));
    expect(host1.listener(a.listenerId)).toBeDefined();
    const again = await startControl({ transport: r.t, grpcPort: port, heartbeatMs: 200, applyTimeoutMs: 300 });
    cleanups.push(() => again.stop(200));
    await until(() => host1.listener(a.listenerId) === undefined, "CPU 1 closing the listener once the control answers again");
    expect(host1.listener(b.listenerId)).toBeDefined();
    expect(h1.tcp!.stats.listenerSyncClosed).toBe(1);
  });
});
