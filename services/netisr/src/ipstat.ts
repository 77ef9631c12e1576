/** Per-CPU IP statistics (DragonFly's `ipstats_percpu[]`): one writer per CPU, readers sum; drop reasons are BSD stat names. */

/** Why a frame was dropped. Values index `IpStats.dropped`. */
export const IpDrop = {
  /** ips_tooshort: frame shorter than an IP header, or than ip_len says. */
  tooshort: 0,
  /** ips_toosmall: a fragment whose data is not a non-zero multiple of 8 (ip_reass). */
  toosmall: 1,
  /** ips_badhlen: IHL < 5 or the header runs past the frame. */
  badhlen: 2,
  /** ips_badlen: ip_len < header length. */
  badlen: 3,
  /** ips_badvers: version is not 4. */
  badvers: 4,
  /** ips_badaddr: 127/8 on the wire (RFC 1122). */
  badaddr: 5,
  /** ips_badsum: header checksum. */
  badsum: 6,
  /** ips_badoptions: malformed options or source routing (ip_dooptions). */
  badoptions: 7,
  /** tcps_rcvshort: the first fragment does not hold a TCP header (ip_lengthcheck). */
  rcvshort: 8,
  /** tcps_rcvbadoff: TCP data offset < 5 or past ip_len. */
  rcvbadoff: 9,
  /** udps_hdrops: the first fragment does not hold a UDP header. */
  hdrops: 10,
  /** ips_cantforward: not for us and not forwardable (class D/E, 0/8, 127/8 destination, forwarding off). */
  cantforward: 11,
  /** ips_noroute: no route to the destination (ICMP unreachable host sent). */
  noroute: 12,
  /** ips_cantfrag: needs fragmenting but DF is set (ICMP needfrag sent). */
  cantfrag: 13,
  /** TTL ran out here (ICMP time exceeded sent; icmpstat counts it as icps_outhist[ICMP_TIMXCEED]). */
  timxceed: 14,
  /** ips_fragdropped: a fragment to us that ip_reass dropped (limits, overlaps, inconsistent lengths). */
  fragdropped: 15,
  /** ips_noproto: to us, a protocol nobody handles (ICMP protocol unreachable sent). */
  noproto: 16,
  /** udps_noport / TCP without a listener: to us, no socket for the port. */
  noport: 17,
  /** ips_notmember: a multicast group we are not a member of. */
  notmember: 18,
  /** icps_checksum: ICMP to us with a bad checksum. */
  checksum: 19,
  /** icps_bmcastecho: echo to a broadcast/multicast address (net.inet.icmp.bmcastecho=0). */
  bmcastecho: 20,
  /** icps_badaddr: an ICMP reply would go to a bad return address. */
  icmpbadaddr: 21,
  /** ICMP echo reply suppressed by icmplim (badport_bandlim BANDLIM_ICMP_ECHO). */
  icmplim: 22,
  /** ips_odropped: the output side refused the frame (no TX ring for the interface). */
  odropped: 23,
  /** tcps_listendrop: a completed connection refused, its listener's accept queue was full (sonewconn). */
  listendrop: 24,
  /** tcps_rcvbadsum: TCP checksum wrong. */
  rcvbadsum: 25,
} as const;

export type IpDropReason = keyof typeof IpDrop;
export const IP_DROP_REASONS: readonly IpDropReason[] = (Object.keys(IpDrop) as IpDropReason[]).sort(
  (a, b) => IpDrop[a] - IpDrop[b],
);
export const IP_DROP_COUNT = IP_DROP_REASONS.length;

/** ICMP types this stack sends (icmpstat icps_outhist). */
export const IcmpType = {
  echoreply: 0,
  unreach: 3,
  timxceed: 11,
  paramprob: 12,
} as const;
export type IcmpTypeName = keyof typeof IcmpType;

/** The counters of one netisr CPU. Plain numbers; only the owning thread writes them. */
export class IpStats {
  /** ips_total: frames that entered ip_input. */
  total = 0;
  /** ips_forward. */
  forwarded = 0;
  /** ips_fragmented / ips_ofragments: datagrams fragmented and fragments sent. */
  fragmented = 0;
  ofragments = 0;
  /** ips_delivered: to a local address. */
  delivered = 0;
  /** Dropped frames by IpDrop code. */
  readonly dropped = new Float64Array(IP_DROP_COUNT);
  /** ICMP messages sent, by type (0..255). */
  readonly icmpOut = new Float64Array(256);
  /** ICMP errors suppressed by the rate limit (icmplim). */
  icmpRatelimited = 0;

  droppedTotal(): number {
    let n = 0;
    for (let i = 0; i < IP_DROP_COUNT; i++) n += this.dropped[i];
    return n;
  }

  /** Nonzero drop counters by reason name. */
  droppedByReason(): Partial<Record<IpDropReason, number>> {
    const out: Partial<Record<IpDropReason, number>> = {};
    for (let i = 0; i < IP_DROP_COUNT; i++) if (this.dropped[i] !== 0) out[IP_DROP_REASONS[i]] = this.dropped[i];
    return out;
  }
}
