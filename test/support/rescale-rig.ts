/**
 * A rig for the rescale layer's unit tests (test/unit/netisr/rescale_*.test.ts): netisr CPUs
 * on the in-process bus with topologies the test hands to each CPU (so the races of an epoch
 * change can be staged), and a peer TcpHost whose frames the test steers like the NIC would.
 */
import { afterEach } from "vitest";
import { buildTcpPacket, ipAddr, TcpFlags, type TcpSeg } from "@dfly/core";
import { ifnetTopology, nicInterfaceSpec } from "@dfly/nic";
import { startNetisr, TcpHost, type NetisrHandle, type So, type SoOwner } from "@dfly/netisr/internal";
import { InprocHub, type Transport } from "@dfly/transport";
import { type TopologyMsg } from "@dfly/wire";
import { wirePeerToTx } from "./tcp-peer.js";


export const C = "rs";
export const HOST = ipAddr("198.18.0.1");
export const PEER = ipAddr("198.18.0.10");
const SPEC = nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt" });

export const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f().catch(() => undefined);
});

export function topo(epoch: number, cpus: number[]): TopologyMsg {
  return { epoch, cpus, interfaces: [ifnetTopology(SPEC, cpus)], rssKey: "" };
}

export async function until(f: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Rig {
  t: Transport;
  cpus: Map<number, NetisrHandle>;
  peer: TcpHost;
  /** The CPU list the emulated NIC steers by. */
  nic: number[];
  rstToPeer: number;
  rstFromPeer: number;
  start(cpu: number, t: TopologyMsg): Promise<NetisrHandle>;
  adopt(cpu: number, t: TopologyMsg): void;
  /** Frames of `cpu` on its way in (the NIC's steering of a peer frame). */
  deliver(frame: Uint8Array): void;
}

export async function rig(graceMs: number): Promise<Rig> {
  const hub = new InprocHub();
  const t = await hub.connect();
  cleanups.push(async () => {
    await t.close();
    hub.close();
  });
  const cpus = new Map<number, NetisrHandle>();
  const r: Rig = {
    t,
    cpus,
    nic: [],
    rstToPeer: 0,
    rstFromPeer: 0,
    peer: undefined as unknown as TcpHost,
    start: async (cpu, tp) => {
      const h = await startNetisr({ transport: t, cluster: C, cpu, topology: tp, routes: [{ prefix: "198.18.0.0/24", ifname: "ix0" }], tcp: { rescale: { graceMs, announceMs: 0 } } });
      cleanups.push(() => h.stop());
      cpus.set(cpu, h);
      h.tcp!.ensureHost().listenInstall({ id: "L80", laddr: 0, lport: 80, reuseport: false, backlog: -1, owner: "app" });
      return h;
    },
    adopt: (cpu, tp) => {
      const h = cpus.get(cpu)!;
      h.service.setTopology(tp);
      h.tcp!.rescale.onTopology();
    },
    deliver: (frame) => {
      const hash = r.peer.hashOf(PEER, (frame[20] << 8) | frame[21], HOST, (frame[22] << 8) | frame[23]);
      const owner = r.nic[(hash & 127) % r.nic.length];
      queueMicrotask(() => cpus.get(owner)!.tcp!.localInput(6, frame, 0, 20, frame.length));
    },
  };
  r.peer = new TcpHost({
    ncpus: 1,
    output: (_c, seg: TcpSeg) => {
      if (seg.flags & TcpFlags.RST) r.rstFromPeer++;
      r.deliver(buildTcpPacket(seg));
    },
  });
  const unwire = wirePeerToTx(t, C, r.peer, () => void r.rstToPeer++);
  cleanups.push(async () => unwire());
  await t.flush();
  return r;
}

/** A peer port whose 4-tuple's bucket the CPU lists `a` and `b` give to `ca` and `cb`. */
export function portFor(peer: TcpHost, a: number[], ca: number, b: number[], cb: number): number {
  for (let p = 20000; p < 30000; p++) {
    const h = peer.hashOf(PEER, p, HOST, 80) & 127;
    if (a[h % a.length] === ca && b[h % b.length] === cb) return p;
  }
  throw new Error("no port");
}

export const owner = (errs: string[]): SoOwner => ({
  soEvent: (_so: So, ev, err) => {
    if (ev === "error") errs.push(err ?? "?");
  },
});
