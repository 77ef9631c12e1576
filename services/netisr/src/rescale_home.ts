/** Home entries and redispatch: a connection's home CPU tells its bucket's owner, which redispatches the connection's segments there. */
import { INP, type Inpcb, type TcpCb } from "@dfly/core";
import { FrameBatchCursor, FrameBatchWriter, subjects, type Msg } from "@dfly/transport";
import { decodeHome, encodeHome, encodeSegments, type Tuple } from "./rescale_netmsg.js";
import type { TcpRescale } from "./tcp_rescale.js";

/** A segment is redispatched at most this many times. */
export const MAX_HOPS = 4;
/** Tuples per home netmsg. */
const HOME_CHUNK = 2048;

export const tupleKey = (laddr: number, lport: number, faddr: number, fport: number): string => `${laddr >>> 0}:${lport}:${faddr >>> 0}:${fport}`;
const tupleOf = (inp: Inpcb<TcpCb>): Tuple => [inp.laddr >>> 0, inp.lport, inp.faddr >>> 0, inp.fport];

function push(m: Map<number, Tuple[]>, cpu: number, t: Tuple): void {
  let l = m.get(cpu);
  if (!l) m.set(cpu, (l = []));
  l.push(t);
}

export class RescaleHome {
  /** Connections living on another CPU whose bucket this CPU owns (or owned): key → home. */
  readonly foreign = new Map<string, number>();
  /** This CPU's connections whose bucket another CPU owns: where they are registered. */
  readonly registered = new Map<Inpcb<TcpCb>, number>();
  private readonly fwd = new Map<number, FrameBatchWriter>();
  private fwdQueued = false;
  private readonly cursor = new FrameBatchCursor();

  constructor(private readonly r: TcpRescale) {}

  /** A topology change: entries pointing at CPUs that are gone are dropped. */
  topology(cpus: readonly number[]): void {
    for (const [k, c] of this.foreign) if (!cpus.includes(c)) this.foreign.delete(k);
  }

  /** Tells each owner about this CPU's connections in its buckets (and withdraws stale entries). */
  reregister(): void {
    const host = this.r.tcp.host;
    if (!host || this.r.draining) return;
    const me = this.r.me;
    const add = new Map<number, Tuple[]>();
    const forget = new Map<number, Tuple[]>();
    for (let inp = host.pcb.pcbinfo[me].first(); inp; inp = inp.listNext) {
      if (!(inp.flags & INP.CONNECTED)) continue;
      const owner = this.r.netisr.ownerOf(inp.hash);
      const prev = this.registered.get(inp);
      if (owner === me) {
        if (prev !== undefined) {
          push(forget, prev, tupleOf(inp));
          this.registered.delete(inp);
        }
      } else if (prev !== owner) {
        push(add, owner, tupleOf(inp));
        if (prev !== undefined) push(forget, prev, tupleOf(inp));
        this.registered.set(inp, owner);
      }
    }
    this.sweep(forget);
    this.send(add, forget);
  }

  /** Registrations of PCBs that are gone become forgets. */
  private sweep(forget: Map<number, Tuple[]>): void {
    for (const [inp, owner] of this.registered) {
      if (inp.flags & INP.CONNECTED) continue;
      push(forget, owner, tupleOf(inp));
      this.registered.delete(inp);
    }
  }

  /** Periodic: withdraws the entries of PCBs that went away. */
  sweepGone(): void {
    if (this.registered.size === 0 || this.r.draining) return;
    const forget = new Map<number, Tuple[]>();
    this.sweep(forget);
    if (forget.size > 0) this.send(new Map(), forget);
  }

  register(inp: Inpcb<TcpCb>, owner: number): void {
    const prev = this.registered.get(inp);
    if (prev === owner) return;
    this.registered.set(inp, owner);
    const t = tupleOf(inp);
    this.send(new Map([[owner, [t]]]), prev !== undefined ? new Map([[prev, [t]]]) : new Map());
  }

  private send(add: Map<number, Tuple[]>, forget: Map<number, Tuple[]>): void {
    const s = this.r.stats;
    for (const cpu of new Set([...add.keys(), ...forget.keys()])) {
      if (cpu === this.r.me) continue;
      const a = add.get(cpu) ?? [];
      const f = forget.get(cpu) ?? [];
      s.homeAdds += a.length;
      s.homeForgets += f.length;
      for (let i = 0; i < Math.max(a.length, f.length); i += HOME_CHUNK) {
        this.r.publish(cpu, encodeHome({ from: this.r.me, add: a.slice(i, i + HOME_CHUNK), forget: f.slice(i, i + HOME_CHUNK) }));
      }
    }
  }

  /** The `home` netmsg: entries added and withdrawn by another CPU. */
  onHome(m: Msg): void {
    const h = decodeHome(m.data);
    if (!h) {
      this.r.stats.dropped.bad++;
      return;
    }
    for (const [l, lp, f, fp] of h.add) {
      this.r.stats.homeReceived++;
      this.foreign.set(tupleKey(l, lp, f, fp), h.from);
    }
    for (const [l, lp, f, fp] of h.forget) {
      const k = tupleKey(l, lp, f, fp);
      if (this.foreign.get(k) === h.from) this.foreign.delete(k);
    }
    this.r.grace.retry(false);
  }

  /** Queues a segment for `cpu` (sent in one batch per CPU at the end of this turn). */
  forward(cpu: number, frame: Uint8Array, hash: number, hops: number): void {
    if (hops >= MAX_HOPS) {
      this.r.stats.dropped.hops++;
      return;
    }
    let w = this.fwd.get(cpu);
    if (!w) this.fwd.set(cpu, (w = new FrameBatchWriter(64 * 1024)));
    if (!w.append(frame, hash, hops + 1)) {
      this.flushOne(cpu, w);
      w.append(frame, hash, hops + 1);
    }
    this.r.stats.redispatched++;
    if (!this.fwdQueued) {
      this.fwdQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flushOne(cpu: number, w: FrameBatchWriter): void {
    if (w.count === 0) return;
    const msg = encodeSegments(this.r.me, w.finish());
    w.reset();
    this.r.tcp.transport.publish(subjects.netisr(this.r.tcp.cluster, cpu), msg, { transfer: true });
  }

  flush(): void {
    this.fwdQueued = false;
    for (const [cpu, w] of this.fwd) this.flushOne(cpu, w);
  }

  /** The `segments` netmsg: frames another CPU redispatched here (tag = hop count). */
  onSegments(m: Msg): void {
    const d = m.data;
    const c = this.cursor;
    if (d.length < 8 || c.reset(d.subarray(8)) !== null) {
      this.r.stats.dropped.bad++;
      return;
    }
    const frames: [Uint8Array, number][] = [];
    while (c.next()) frames.push([c.buf.subarray(c.offset, c.offset + c.length), c.tag]);
    for (const [f, hops] of frames) {
      this.r.stats.redispatchReceived++;
      this.r.segment(f, hops, true);
    }
  }
}
