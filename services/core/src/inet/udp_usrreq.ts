/**
 * UDP protocol control blocks and udp_input() per CPU (DragonFly's sys/netinet/udp_usrreq.c).
 * DragonFly keeps one `udbinfo[cpu]` per netisr CPU: a datagram is handled on the CPU its
 * address pair hashes to (ip_hashfn → udp_addrcpu), so every CPU that may receive a datagram
 * for a wildcard-bound socket holds that socket in its own wildcard hash
 * (in_pcbinswildcardhash on each CPU); a connected socket lives only on its pair's CPU.
 * Nothing here locks: one CPU's table has one writer, its netisr.
 */
import { parseUdp, UdpDropReason } from "./udp.js";

/** `struct udpstat` counters of one CPU (netstat -s sums them). */
export class UdpStats {
  /** udps_ipackets: datagrams udp_input() was given (drops included, as BSD counts). */
  udps_ipackets = 0;
  /** udps_hdrops: shorter than a UDP header. */
  udps_hdrops = 0;
  /** udps_badsum: checksum present and wrong. */
  udps_badsum = 0;
  /** udps_nosum: no checksum sent (accepted). */
  udps_nosum = 0;
  /** udps_badlen: uh_ulen below 8 or past the IP payload. */
  udps_badlen = 0;
  /** udps_noport: no socket for the destination port (ICMP port unreachable sent unless broadcast). */
  udps_noport = 0;
  /** udps_noportbcast: as udps_noport, to a broadcast address (no ICMP). */
  udps_noportbcast = 0;
  /** udps_fullsock: the socket's receive queue was full. */
  udps_fullsock = 0;
  /** udps_opackets: datagrams udp_output() sent. */
  udps_opackets = 0;
}

export const UDP_STAT_NAMES = Object.keys(new UdpStats()) as (keyof UdpStats)[];

/** What a socket receives: the datagram's addresses and its payload (a copy). */
export interface UdpDatagram {
  src: number;
  sport: number;
  dst: number;
  dport: number;
  data: Uint8Array;
  /** The CPU whose udp_input() delivered it. */
  cpu: number;
}

/** One socket's PCB in one CPU's table; `laddr`/`faddr` 0 = INADDR_ANY. */
export interface UdpPcb {
  readonly laddr: number;
  readonly lport: number;
  readonly faddr: number;
  readonly fport: number;
  /** sbappendaddr(): false when the receive queue is full (counted as udps_fullsock). */
  deliver(d: UdpDatagram): boolean;
}

export class UdpBindError extends Error {
  override readonly name = "UdpBindError";
  constructor(message: string, readonly code: "EADDRINUSE" | "EINVAL") {
    super(message);
  }
}

function connKey(laddr: number, lport: number, faddr: number, fport: number): string {
  return `${laddr >>> 0}:${lport}:${faddr >>> 0}:${fport}`;
}

/** One CPU's `udbinfo`: connected PCBs by 4-tuple, wildcard PCBs by local port. */
export class UdpPcbInfo {
  private readonly conn = new Map<string, UdpPcb>();
  private readonly wild = new Map<number, UdpPcb[]>();

  constructor(readonly cpu: number) {}

  get size(): number {
    let n = this.conn.size;
    for (const l of this.wild.values()) n += l.length;
    return n;
  }

  /** in_pcbinsconnhash / in_pcbinswildcardhash; the same local address and port twice is EADDRINUSE (no SO_REUSEADDR here). */
  insert(p: UdpPcb): void {
    if (!Number.isInteger(p.lport) || p.lport < 1 || p.lport > 0xffff) throw new UdpBindError(`UDP port ${p.lport} is not in 1..65535`, "EINVAL");
    if (p.faddr !== 0) {
      const k = connKey(p.laddr, p.lport, p.faddr, p.fport);
      if (this.conn.has(k)) throw new UdpBindError(`UDP ${k} is in use`, "EADDRINUSE");
      this.conn.set(k, p);
      return;
    }
    const l = this.wild.get(p.lport) ?? [];
    if (l.some((q) => q.laddr === p.laddr)) throw new UdpBindError(`UDP port ${p.lport} is in use`, "EADDRINUSE");
    l.push(p);
    this.wild.set(p.lport, l);
  }

  remove(p: UdpPcb): void {
    if (p.faddr !== 0) {
      const k = connKey(p.laddr, p.lport, p.faddr, p.fport);
      if (this.conn.get(k) === p) this.conn.delete(k);
      return;
    }
    const l = this.wild.get(p.lport);
    if (!l) return;
    const i = l.indexOf(p);
    if (i >= 0) l.splice(i, 1);
    if (l.length === 0) this.wild.delete(p.lport);
  }

  /** in_pcblookup_hash with INPLOOKUP_WILDCARD: the connected PCB, else a PCB bound to `dst`, else one bound to INADDR_ANY. */
  lookup(src: number, sport: number, dst: number, dport: number): UdpPcb | undefined {
    const c = this.conn.get(connKey(dst, dport, src, sport));
    if (c) return c;
    const l = this.wild.get(dport);
    if (!l) return undefined;
    let any: UdpPcb | undefined;
    for (const p of l) {
      if (p.laddr === dst) return p;
      if (p.laddr === 0) any ??= p;
    }
    return any;
  }
}

export type UdpInputResult = "delivered" | "noport" | "fullsock" | UdpDropReason;

function rd32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/**
 * udp_input() for the IPv4 datagram `buf[off, off+iplen)` (header length `hlen`) on CPU
 * `info.cpu`: header checks, PCB lookup, delivery. "noport": the caller answers with ICMP
 * port unreachable (ip_input's icmp_error, rate limited), counted here as udps_noport.
 */
export function udpInput(
  info: UdpPcbInfo, st: UdpStats, buf: Uint8Array, off: number, hlen: number, iplen: number, bcast = false,
): UdpInputResult {
  const src = rd32(buf, off + 12);
  const dst = rd32(buf, off + 16);
  // As BSD, every datagram udp_input() sees is counted first; the drops below are a part of it.
  st.udps_ipackets++;
  const r = parseUdp(buf, off + hlen, iplen - hlen, src, dst);
  if (!r.ok) {
    st[`udps_${r.reason}`]++;
    return r.reason;
  }
  if (r.udp.nosum) st.udps_nosum++;
  const p = info.lookup(src, r.udp.sport, dst, r.udp.dport);
  if (p === undefined) {
    if (bcast) st.udps_noportbcast++;
    else st.udps_noport++;
    return "noport";
  }
  const data = buf.slice(r.payloadOffset, r.payloadOffset + r.payloadLength);
  if (!p.deliver({ src, sport: r.udp.sport, dst, dport: r.udp.dport, data, cpu: info.cpu })) {
    st.udps_fullsock++;
    return "fullsock";
  }
  return "delivered";
}
