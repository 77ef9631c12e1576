/** One netisr CPU (DragonFly's `netisr N` thread, sys/net/netisr.c): owner CPU, ip_input, local delivery or forwarding per frame; no I/O, no allocation per packet. */
import { ICMP, ICMP_UNREACH, ipFragment, ipPacketHash, IpReass, netisrHashcpu, NETISR_CPUMAX, symmetric, type RouteTable } from "@dfly/core";
import { compactFrameBatch, FrameBatchCursor, FrameBatchWriter, MAX_BATCH_FRAMES } from "@dfly/transport";
import { type InterfaceTopology, type TopologyMsg } from "@dfly/wire";
import { Fib, ForwardResult, FWD_FRAGMENT, FWD_OK, ipForward, IF_MTU_DEFAULT } from "./ip_forward.js";
import {
  Bandlim,
  icmpEchoReflect,
  icmpErrorAllowed,
  icmpErrorLength,
  icmpInputCheck,
  IcmpRateLimit,
  IcmpTcpQuote,
  icmpTcpQuote,
  writeIcmpError,
} from "./ip_icmp.js";
import { ipDoOptions, ipInputCheck, IP_OK, OptVerdict } from "./ip_input.js";
import type { IpfwHook } from "./ip_fw.js";
import { IpDrop, IpStats } from "./ipstat.js";
import { copyFrame, IfTx, takeExact } from "./if_tx.js";
import { IfStatCounters, type IfStatLayout } from "./if_stats.js";

/** Where a netisr's output goes (the transport adapter in main.ts / the embedded runner). */
export interface NetisrOutput {
  /** A batch for TX ring `ring` of interface `ifname`. The buffer is given away. */
  tx(ifname: string, ring: number, batch: Uint8Array): void;
  /** Frames for another CPU's port (each frame's tag is the RX ring it arrived on). The buffer is given away. */
  redispatch(cpu: number, batch: Uint8Array): void;
}

/** A local protocol hook: true when it consumed `buf[off, off+iplen)`; `hash` (16-bit, from the NIC) absent: checked and hashed again. */
/** An ICMP error quoting a TCP segment of ours (`q`, reused: read it during the call), with the quote's 16-bit hash. */
export type CtlInput = (q: IcmpTcpQuote, hash: number) => void;

export type LocalInput = (proto: number, buf: Uint8Array, off: number, hlen: number, iplen: number, hash?: number) => boolean;

/** This CPU's view of one interface. */
export class NetisrIf {
  readonly addrs: Uint32Array;
  readonly masks: Uint32Array;
  /** TX ring this CPU transmits on: the ring the ringmap puts on this CPU, else cpu index % rings. */
  readonly txRing: number;
  /** RX rings this CPU polls. */
  readonly rxRings: number[];
  /** Frames received per RX ring (this CPU's counts). */
  readonly rxFrames: Float64Array;
  /** Frames dropped because the RX descriptor ring was full (polling mode), per ring. */
  readonly rxRingDropped: Float64Array;
  txFrames = 0;

  constructor(
    readonly index: number,
    readonly topo: InterfaceTopology,
    cpu: number,
    cpuIndex: number,
    readonly mtu: number = IF_MTU_DEFAULT,
  ) {
    const a: number[] = [];
    const m: number[] = [];
    for (const s of topo.addresses) {
      const [addr, len] = parseCidr(s);
      a.push(addr);
      m.push(len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
    }
    this.addrs = Uint32Array.from(a);
    this.masks = Uint32Array.from(m);
    this.rxRings = [];
    for (let r = 0; r < topo.rings; r++) if (topo.ringToCpu[r] === cpu) this.rxRings.push(r);
    this.txRing = this.rxRings.length > 0 ? this.rxRings[0] : cpuIndex % Math.max(1, topo.rings);
    this.rxFrames = new Float64Array(topo.rings);
    this.rxRingDropped = new Float64Array(topo.rings);
  }

  get ifname(): string {
    return this.topo.ifname;
  }
}

/** `a.b.c.d/len` → [addr, len]. Throws on malformed input (config is validated at the edge). */
export function parseCidr(s: string): [number, number] {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(s);
  if (!m) throw new NetisrConfigError(`address "${s}" is not a.b.c.d/len`);
  const o = [m[1], m[2], m[3], m[4]].map(Number);
  const len = m[5] === undefined ? 32 : Number(m[5]);
  if (o.some((x) => x > 255) || len > 32) throw new NetisrConfigError(`address "${s}" is out of range`);
  return [((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0, len];
}

export class NetisrConfigError extends Error {
  override readonly name = "NetisrConfigError";
}

/** Counters of one netisr CPU beyond ipstat. Plain numbers, one writer. */
export class NetisrStats {
  readonly ip = new IpStats();
  redispatched = 0;
  redispatchReceived = 0;
  batchesRx = 0;
  batchesTx = 0;
  batchesPortIn = 0;
  batchesPortOut = 0;
  /** RX batches refused as malformed (FrameBatchDropReason). */
  badBatches = 0;
  /** Seconds the last consumed RX batch waited in this CPU's RX ring. */
  lagSeconds = 0;
}

export interface NetisrConfig {
  cpu: number;
  topology: TopologyMsg;
  routes: RouteTable;
  output: NetisrOutput;
  /** net.inet.ip.forwarding (default on: this stack is a router). */
  forwarding?: boolean;
  /** net.inet.icmp.icmplim (default 200/s, per CPU here). */
  icmplim?: number;
  /** Milliseconds clock (tests inject one). */
  nowMs?: () => number;
  localInput?: LocalInput;
  ctlInput?: CtlInput;
  /** ifnet's per-packet counters, per CPU or shared (if_stats.ts); absent: not kept. */
  ifstat?: IfStatLayout;
}

const OUT_NONE = -1;

function rd32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

export class Netisr {
  readonly cpu: number;
  readonly stats = new NetisrStats();
  readonly routes: RouteTable;
  private cpus: number[] = [];
  private cpuIndex = 0;
  /** netisr_hashcpu for every one of the 128 buckets, as CPU ids. */
  private readonly bucketCpu = new Int32Array(NETISR_CPUMAX);
  private ifs: NetisrIf[] = [];
  private ifByName = new Map<string, number>();
  private localAddrs = new Uint32Array(0);
  private localIf = new Int32Array(0);
  private bcastAddrs = new Uint32Array(0);
  private readonly fib: Fib;
  private readonly fwd = new ForwardResult();
  /** net.inet.icmp.icmplim (its `limit` is the sysctl). */
  readonly limiter: IcmpRateLimit;
  private readonly output: NetisrOutput;
  private readonly nowMs: () => number;
  private readonly localInput: LocalInput | undefined;
  forwarding: boolean;
  epoch = 0;
  /** tcp_ctlinput: an ICMP error about one of our TCP segments, on the CPU that owns the connection. */
  private readonly ctlInput: CtlInput | undefined;
  private readonly quote = new IcmpTcpQuote();
  /** ip_reass queues of this CPU (net.inet.ip.maxfragpackets, maxfragsperpacket). */
  readonly reass = new IpReass();
  readonly ifstat: IfStatCounters | undefined;
  /** The firewall (ip_fw.ts), when this CPU runs one. */
  ipfw: IpfwHook | undefined = undefined;
  /** Interface the frame being processed came in on (-1: redispatched from another CPU). */
  private rcvif = -1;

  private readonly cursor = new FrameBatchCursor();
  private readonly keep = new Uint8Array(MAX_BATCH_FRAMES);
  /** This CPU's TX side (forwarding, ICMP and TCP output share it). */
  readonly tx: IfTx;
  /** Redispatch writers per target CPU id. */
  private readonly rdw = new Map<number, FrameBatchWriter>();
  private ipId = 1;

  constructor(c: NetisrConfig) {
    this.cpu = c.cpu;
    this.routes = c.routes;
    this.output = c.output;
    this.forwarding = c.forwarding ?? true;
    this.limiter = new IcmpRateLimit(c.icmplim);
    this.nowMs = c.nowMs ?? (() => performance.now());
    this.localInput = c.localInput;
    this.ctlInput = c.ctlInput;
    this.ifstat = c.ifstat ? new IfStatCounters(c.ifstat) : undefined;
    this.tx = new IfTx(c.output, this.stats);
    this.fib = new Fib(c.routes, (n) => this.ifByName.get(n) ?? -1, (i) => this.ifs[i]?.mtu ?? IF_MTU_DEFAULT);
    this.setTopology(c.topology);
  }

  get interfaces(): readonly NetisrIf[] {
    return this.ifs;
  }
  get ncpus(): number {
    return this.cpus.length;
  }
  get liveCpus(): readonly number[] {
    return this.cpus;
  }

  /** Installs a topology (CPU set, interfaces, ring → CPU map). Counters of interfaces that stay are kept. */
  setTopology(t: TopologyMsg): void {
    const idx = t.cpus.indexOf(this.cpu);
    if (idx < 0) throw new NetisrConfigError(`cpu ${this.cpu} is not in the topology's cpus [${t.cpus.join(",")}]`);
    this.cpus = [...t.cpus];
    this.cpuIndex = idx;
    this.tx.flush();
    for (let b = 0; b < NETISR_CPUMAX; b++) this.bucketCpu[b] = this.cpus[netisrHashcpu(b, this.cpus.length)];
    const old = new Map(this.ifs.map((i) => [i.ifname, i]));
    this.ifs = t.interfaces.map((it, i) => {
      const n = new NetisrIf(i, it, this.cpu, idx);
      const o = old.get(it.ifname);
      if (o) {
        n.rxFrames.set(o.rxFrames.subarray(0, Math.min(o.rxFrames.length, n.rxFrames.length)));
        n.rxRingDropped.set(o.rxRingDropped.subarray(0, Math.min(o.rxRingDropped.length, n.rxRingDropped.length)));
        n.txFrames = o.txFrames;
      }
      return n;
    });
    this.ifByName = new Map(this.ifs.map((i) => [i.ifname, i.index]));
    const la: number[] = [];
    const li: number[] = [];
    const ba: number[] = [];
    for (const i of this.ifs) {
      for (let k = 0; k < i.addrs.length; k++) {
        la.push(i.addrs[k]);
        li.push(i.index);
        if (i.masks[k] !== 0xffffffff) ba.push((i.addrs[k] | ~i.masks[k]) >>> 0);
      }
    }
    this.localAddrs = Uint32Array.from(la);
    this.localIf = Int32Array.from(li);
    this.bcastAddrs = Uint32Array.from(ba);
    this.tx.setInterfaces(this.ifs);
    this.epoch = t.epoch;
    this.fib.invalidate();
  }

  /** The route table changed (the agent applied an add/delete): drop cached resolutions. */
  routesChanged(): void {
    this.fib.invalidate();
  }

  ifindex(ifname: string): number {
    return this.ifByName.get(ifname) ?? -1;
  }

  /** The CPU id netisr_hashcpu names for a raw RSS hash. */
  ownerOf(rawHash: number): number {
    return this.bucketCpu[rawHash & 0x7f];
  }

  /** A batch from RX ring `ring` of interface `ifx`, frames [from, to); `whole`: forwarded frames may leave in it. Returns the frames looked at. */
  rxBatch(ifx: number, ring: number, batch: Uint8Array, from = 0, to = MAX_BATCH_FRAMES, whole = true): number {
    const c = this.cursor;
    const bad = c.reset(batch);
    if (bad !== null) {
      this.stats.badBatches++;
      return 0;
    }
    const ifp = this.ifs[ifx];
    if (ifp === undefined) {
      this.stats.badBatches++;
      return 0;
    }
    this.stats.batchesRx++;
    this.rcvif = ifx;
    const n = Math.min(c.count, to);
    const inPlace = whole && from === 0 && n === c.count;
    const keep = this.keep;
    const me = this.cpu;
    const bucketCpu = this.bucketCpu;
    let primary = OUT_NONE;
    let kept = 0;
    let seen = 0;
    while (c.next()) {
      const i = c.index;
      if (i < from) continue;
      if (i >= n) break;
      seen++;
      keep[i] = 0;
      const owner = bucketCpu[c.hash & 0x7f];
      if (owner !== me) {
        this.redispatchFrame(owner, c.buf, c.offset, c.length, c.hash | 0, ring);
        continue;
      }
      const out = this.input(c.buf, c.offset, c.length, c.hash | 0);
      if (out < 0) continue;
      if (inPlace && (primary === OUT_NONE || primary === out)) {
        primary = out;
        keep[i] = 1;
        kept++;
      } else {
        this.tx.copy(out, c.buf, c.offset, c.length, c.hash | 0);
      }
    }
    ifp.rxFrames[ring] += seen;
    this.flushRedispatch();
    this.tx.flush();
    if (kept > 0) {
      const outBatch = kept === c.count ? batch : compactFrameBatch(batch, keep);
      this.tx.emit(primary, outBatch, kept);
    }
    return seen;
  }

  /** Frames another CPU redispatched to this one (a `frames` netmsg on this CPU's port). */
  portFrames(batch: Uint8Array): void {
    const c = this.cursor;
    if (c.reset(batch) !== null) {
      this.stats.badBatches++;
      return;
    }
    this.stats.batchesPortIn++;
    this.rcvif = -1;
    const keep = this.keep;
    let primary = OUT_NONE;
    let kept = 0;
    while (c.next()) {
      const i = c.index;
      keep[i] = 0;
      this.stats.redispatchReceived++;
      const out = this.input(c.buf, c.offset, c.length, c.hash | 0);
      if (out < 0) continue;
      if (primary === OUT_NONE || primary === out) {
        primary = out;
        keep[i] = 1;
        kept++;
      } else {
        this.tx.copy(out, c.buf, c.offset, c.length, c.hash | 0);
      }
    }
    this.tx.flush();
    if (kept > 0) this.tx.emit(primary, kept === c.count ? batch : compactFrameBatch(batch, keep), kept);
  }

  /** ip_input for one frame → its output interface when it leaves in its batch, else OUT_NONE. `hash` is int32: a uint32 above 2^31 is a heap number per frame. */
  private input(buf: Uint8Array, off: number, len: number, hash: number): number {
    const st = this.stats.ip;
    st.total++;
    this.ifstat?.input(len);
    const v = ipInputCheck(buf, off, len);
    if (v !== IP_OK) {
      st.dropped[v]++;
      return OUT_NONE;
    }
    const hlen = (buf[off] & 0x0f) << 2;
    const iplen = (buf[off + 2] << 8) | buf[off + 3];
    if (hlen > 20) {
      const o = ipDoOptions(buf.subarray(off, off + len), 0);
      if (o.verdict !== OptVerdict.ok) {
        st.dropped[IpDrop.badoptions]++;
        if (o.verdict === OptVerdict.srcfail) this.icmpError(buf, off, ICMP.UNREACH, ICMP_UNREACH.SRCFAIL, 0, false);
        else this.icmpError(buf, off, ICMP.PARAMPROB, 0, o.pointer, false);
        return OUT_NONE;
      }
    }
    if (this.ipfw !== undefined && !this.ipfw.input(buf, off, hlen, iplen, this.rcvif)) return OUT_NONE;
    const dst = rd32(buf, off + 16);
    const la = this.localAddrs;
    for (let k = 0; k < la.length; k++) if (la[k] === dst) return this.ours(buf, off, len, hlen, iplen, false, hash);
    const ba = this.bcastAddrs;
    for (let k = 0; k < ba.length; k++) if (ba[k] === dst) return this.ours(buf, off, len, hlen, iplen, true, hash);
    if (dst === 0xffffffff || dst === 0) return this.ours(buf, off, len, hlen, iplen, true, hash);
    if (dst >>> 28 === 0xe) {
      st.dropped[IpDrop.notmember]++;
      return OUT_NONE;
    }
    if (!this.forwarding) {
      st.dropped[IpDrop.cantforward]++;
      return OUT_NONE;
    }
    const res = this.fwd;
    const r = ipForward(buf, off, iplen, this.fib, res);
    if (r <= FWD_OK && this.ipfw !== undefined && !this.ipfw.output(buf, off, hlen, iplen, this.rcvif, res.ifindex)) return OUT_NONE;
    if (r === FWD_OK) {
      st.forwarded++;
      this.ifstat?.output(iplen);
      if (len !== iplen) {
        // ip_input trims frames longer than ip_len; the trimmed frame leaves by copy.
        this.tx.copy(res.ifindex, buf, off, iplen, hash);
        return OUT_NONE;
      }
      return res.ifindex;
    }
    if (r === FWD_FRAGMENT) {
      st.forwarded++;
      this.fragment(res.ifindex, res.mtu, buf, off, iplen);
      return OUT_NONE;
    }
    st.dropped[r]++;
    if (res.icmpType >= 0) this.icmpError(buf, off, res.icmpType, res.icmpCode, res.icmpParam, false);
    return OUT_NONE;
  }

  /** A datagram addressed to this host (`bcast`: to a broadcast address). */
  private ours(buf: Uint8Array, off: number, len: number, hlen: number, iplen: number, bcast: boolean, hash: number): number {
    const st = this.stats.ip;
    const ipoff = (buf[off + 6] << 8) | buf[off + 7];
    if (ipoff & 0x3fff) return this.reassInput(buf, off, hlen, iplen, bcast);
    const p = buf[off + 9];
    if (p === 1) {
      const v = icmpInputCheck(buf, off, hlen, iplen);
      if (v !== IP_OK) {
        st.dropped[v]++;
        return OUT_NONE;
      }
      if (buf[off + hlen] !== ICMP.ECHO) {
        // Errors about our TCP segments go to tcp_ctlinput; other types go to raw sockets in DragonFly (none here).
        if (!this.icmpCtl(buf, off, len, hlen, iplen, hash)) st.delivered++;
        return OUT_NONE;
      }
      if (bcast) {
        st.dropped[IpDrop.bmcastecho]++;
        return OUT_NONE;
      }
      if (!this.limiter.allow(Bandlim.echo, this.nowMs())) {
        st.icmpRatelimited++;
        st.dropped[IpDrop.icmplim]++;
        return OUT_NONE;
      }
      return this.echoReply(buf, off, len, hlen, iplen);
    }
    if (this.localInput !== undefined && this.localInput(p, buf, off, hlen, iplen, hash & 0xffff)) {
      st.delivered++;
      return OUT_NONE;
    }
    if (p === 17 || p === 6) {
      st.dropped[IpDrop.noport]++;
      // udp_input: ICMP port unreachable (unless broadcast). TCP would answer with a RST (not here).
      if (p === 17) this.icmpError(buf, off, ICMP.UNREACH, ICMP_UNREACH.PORT, 0, bcast);
      return OUT_NONE;
    }
    st.dropped[IpDrop.noproto]++;
    this.icmpError(buf, off, ICMP.UNREACH, ICMP_UNREACH.PROTOCOL, 0, bcast);
    return OUT_NONE;
  }

  /**
   * An ICMP error quoting a TCP segment: tcp_ctlinput on the CPU that owns the quoted connection. The quote's
   * 4-tuple hashes (symmetric key) as the connection's own segments do; on another CPU the frame is redispatched
   * carrying that hash, and a frame that already carries it is handled here. True when it was redispatched.
   */
  private icmpCtl(buf: Uint8Array, off: number, len: number, hlen: number, iplen: number, hash: number): boolean {
    if (this.ctlInput === undefined) return false;
    const q = this.quote;
    if (!icmpTcpQuote(buf, off, hlen, iplen, q)) return false;
    const h = symmetric.hash4(q.src, q.dst, q.sport, q.dport) | 0;
    const owner = this.bucketCpu[h & 0x7f];
    if (owner !== this.cpu && hash !== h) {
      this.redispatchFrame(owner, buf, off, len, h, 0);
      this.flushRedispatch();
      return true;
    }
    this.ctlInput(q, h & 0xffff);
    return false;
  }

  /**
   * ip_reass for a fragment to this host. Every fragment of a datagram hashes to the address pair (pkthash.ts), so
   * they all meet on this CPU; the whole datagram is hashed again (a TCP one by its 4-tuple) and goes to its owner.
   */
  private reassInput(buf: Uint8Array, off: number, hlen: number, iplen: number, bcast: boolean): number {
    const st = this.stats.ip;
    const rs = this.reass.stats;
    const dropped = rs.fragdropped;
    const toosmall = rs.toosmall;
    const d = this.reass.input(buf, off, hlen, iplen, this.nowMs());
    st.dropped[IpDrop.fragdropped] += rs.fragdropped - dropped;
    st.dropped[IpDrop.toosmall] += rs.toosmall - toosmall;
    if (d === null) return OUT_NONE;
    const hash = ipPacketHash(d, 0) | 0;
    const owner = this.bucketCpu[hash & 0x7f];
    if (owner !== this.cpu) {
      this.redispatchFrame(owner, d, 0, d.length, hash, 0);
      this.flushRedispatch();
      return OUT_NONE;
    }
    const out = this.ours(d, 0, d.length, (d[0] & 0x0f) << 2, d.length, bcast, hash);
    if (out < 0) return OUT_NONE;
    const mtu = this.ifs[out]?.mtu ?? IF_MTU_DEFAULT;
    if (d.length <= mtu) {
      this.tx.copy(out, d, 0, d.length, hash);
      return OUT_NONE;
    }
    // A reply as large as the request (echo): fragmented for the interface, as ip_output does.
    let frags: Uint8Array[];
    try {
      frags = ipFragment(d, mtu);
    } catch {
      st.dropped[IpDrop.cantfrag]++;
      return OUT_NONE;
    }
    st.fragmented++;
    st.ofragments += frags.length;
    for (const f of frags) this.tx.copy(out, f, 0, f.length, hash);
    return OUT_NONE;
  }

  private echoReply(buf: Uint8Array, off: number, len: number, hlen: number, iplen: number): number {
    const st = this.stats.ip;
    const src = rd32(buf, off + 12);
    const me = rd32(buf, off + 16);
    const outIf = this.routeIf(src);
    if (outIf < 0) {
      st.dropped[IpDrop.noroute]++;
      return OUT_NONE;
    }
    st.delivered++;
    st.icmpOut[ICMP.ECHOREPLY]++;
    if (hlen === 20 && len === iplen) {
      icmpEchoReflect(buf, off, 20, me);
      return outIf;
    }
    // Options or trailing bytes: the reply is built without options by copy.
    const n = iplen - hlen + 20;
    const at = this.tx.reserve(outIf, n, 0);
    if (at < 0) return OUT_NONE;
    const d = this.tx.writer(outIf).buffer;
    for (let i = 0; i < 20; i++) d[at + i] = buf[off + i];
    d[at] = 0x45;
    d[at + 2] = n >>> 8;
    d[at + 3] = n;
    d.set(buf.subarray(off + hlen, off + iplen), at + 20);
    icmpEchoReflect(d, at, 20, me);
    return OUT_NONE;
  }

  /** The interface of the route to `addr`, or -1. */
  private routeIf(addr: number): number {
    const ri = this.routes.lookup(addr);
    return ri < 0 ? -1 : this.fib.outIfOf(ri);
  }

  /** icmp_error(): rate limited, sent toward the original source. */
  private icmpError(orig: Uint8Array, off: number, type: number, code: number, param: number, bcast: boolean): void {
    if (!icmpErrorAllowed(orig, off, bcast)) return;
    if (!this.limiter.allow(Bandlim.error, this.nowMs())) {
      this.stats.ip.icmpRatelimited++;
      return;
    }
    const src = rd32(orig, off + 12);
    const outIf = this.routeIf(src);
    if (outIf < 0) return;
    const ifp = this.ifs[outIf];
    // icmp_reflect(): the original destination if it was ours, else the outgoing interface's address.
    const odst = rd32(orig, off + 16);
    let from = ifp.addrs.length > 0 ? ifp.addrs[0] : 0;
    const la = this.localAddrs;
    for (let k = 0; k < la.length; k++) if (la[k] === odst) from = odst;
    if (from === 0) return;
    const n = icmpErrorLength(orig, off);
    const at = this.tx.reserve(outIf, n, 0);
    if (at < 0) return;
    writeIcmpError(this.tx.writer(outIf).buffer, at, orig, off, type, code, param, from, this.ipId);
    this.ipId = (this.ipId + 1) & 0xffff;
    this.stats.ip.icmpOut[type]++;
  }

  private fragment(ifx: number, mtu: number, buf: Uint8Array, off: number, iplen: number): void {
    let frags: Uint8Array[];
    try {
      frags = ipFragment(buf.subarray(off, off + iplen), mtu);
    } catch {
      this.stats.ip.dropped[IpDrop.cantfrag]++;
      this.stats.ip.forwarded--;
      return;
    }
    this.stats.ip.fragmented++;
    this.stats.ip.ofragments += frags.length;
    for (const f of frags) this.tx.copy(ifx, f, 0, f.length, 0);
  }

  private redispatchFrame(cpu: number, buf: Uint8Array, off: number, len: number, hash: number, ring: number): void {
    this.stats.redispatched++;
    let w = this.rdw.get(cpu);
    if (w === undefined) this.rdw.set(cpu, (w = new FrameBatchWriter()));
    if (!copyFrame(w, buf, off, len, hash, ring)) {
      this.output.redispatch(cpu, takeExact(w));
      this.stats.batchesPortOut++;
      copyFrame(w, buf, off, len, hash, ring);
    }
  }

  private flushRedispatch(): void {
    for (const [cpu, w] of this.rdw) {
      if (w.count === 0) continue;
      this.output.redispatch(cpu, takeExact(w));
      this.stats.batchesPortOut++;
    }
  }
}
