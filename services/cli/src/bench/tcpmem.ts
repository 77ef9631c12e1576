/**
 * Memory per established connection (issue 4 target: ≤ 1 KiB): the heap growth of a server
 * host holding `conns` idle ESTABLISHED connections, each accepted by a program and kept
 * open — the PCB, the TCB, the socket, the program's descriptor and every table entry.
 *
 * The peer is a stateless script (no TCB of its own): it injects a SYN, reads the SYN|ACK the
 * server sends, and answers with the ACK, so the heap growth is the server's alone. Addresses
 * vary over 198.18.0.0/16 and ports over 1024..65535. The heap is measured after a full GC
 * (V8's --expose-gc turned on at run time).
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ipAddr, TcpFlags, type TcpSeg } from "@dfly/core";
import { HostListenBackend, Sockets, SoEvent, TcpHost } from "@dfly/netisr";

export interface TcpMemOptions {
  conns: number;
  cpus?: number;
}

export interface TcpMemResult {
  bench: "tcp-memory";
  conns: number;
  cpus: number;
  established: number;
  heapBytesBefore: number;
  heapBytesAfter: number;
  bytesPerConnection: number;
  targetBytes: number;
  withinTarget: boolean;
  /** The same growth measured with nothing but the TCB objects (the engine's share). */
  ms: number;
}

function gc(): () => void {
  setFlagsFromString("--expose-gc");
  const f = runInNewContext("gc") as () => void;
  return () => {
    f();
    f();
  };
}

export async function measureTcpMemory(o: TcpMemOptions): Promise<TcpMemResult> {
  const cpus = o.cpus ?? 1;
  if (!Number.isInteger(o.conns) || o.conns < 1 || o.conns > 2_000_000) throw new RangeError(`conns ${o.conns}: want 1..2000000`);
  const collect = gc();
  const t0 = performance.now();
  let t = 0;
  const synacks: TcpSeg[] = [];
  const host = new TcpHost({ ncpus: cpus, now: () => t, somaxconn: 65535, output: (_c, seg) => void (seg.flags & TcpFlags.SYN && synacks.push(seg)) });
  const backend = new HostListenBackend(host);
  const server = ipAddr("198.18.0.1");
  const programs = Array.from({ length: cpus }, (_, c) => new Sockets({ host, cpu: c, owner: `idle-${c}`, listen: backend }));
  const held: number[] = [];
  for (const s of programs) {
    const fd = s.socket((f, ev) => {
      if (ev !== SoEvent.ACCEPT) return;
      for (let a = s.accept(f, null); a >= 0; a = s.accept(f, null)) held.push(a);
    });
    s.bind(fd, 0, 80);
    const { SockOpt } = await import("@dfly/netisr");
    s.setsockopt(fd, SockOpt.SO_REUSEPORT, true);
    await s.listen(fd, 65535);
  }
  collect();
  const before = process.memoryUsage().heapUsed;
  const base = ipAddr("198.18.0.0");
  for (let i = 0; i < o.conns; i++) {
    const src = (base + 2 + Math.floor(i / 64000)) >>> 0;
    const sport = 1024 + (i % 64000);
    const syn: TcpSeg = {
      src, dst: server, sport, dport: 80, seq: i * 7919, ack: 0, flags: TcpFlags.SYN, window: 65535,
      options: { mss: 1460, wscale: 7, sackPermitted: true, timestamp: { val: i, ecr: 0 } }, payload: new Uint8Array(0),
    };
    const h = host.hashOf(src, sport, server, 80);
    const cpu = host.cpu(host.pcb.hashcpu(h));
    cpu.input(syn, h);
    const sa = synacks.pop();
    if (!sa) continue;
    const ack: TcpSeg = {
      src, dst: server, sport, dport: 80, seq: (syn.seq + 1) >>> 0, ack: (sa.seq + 1) >>> 0, flags: TcpFlags.ACK, window: 65535,
      options: { timestamp: { val: i + 1, ecr: sa.options?.timestamp?.val ?? 0 } }, payload: new Uint8Array(0),
    };
    cpu.input(ack, h);
    if ((i & 1023) === 0) t += 1;
  }
  synacks.length = 0;
  collect();
  const after = process.memoryUsage().heapUsed;
  let established = 0;
  for (let c = 0; c < cpus; c++) established += host.connectionStates(c).ESTABLISHED ?? 0;
  const per = Math.round((after - before) / Math.max(1, established));
  // Keep everything alive until measured.
  if (held.length < 0) console.log(programs, host);
  return {
    bench: "tcp-memory",
    conns: o.conns,
    cpus,
    established,
    heapBytesBefore: before,
    heapBytesAfter: after,
    bytesPerConnection: per,
    targetBytes: 1024,
    withinTarget: per <= 1024,
    ms: Math.round(performance.now() - t0),
  };
}
