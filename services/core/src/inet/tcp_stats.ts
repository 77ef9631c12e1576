/**
 * Per-CPU TCP statistics (`struct tcp_stats`, sys/netinet/tcp_var.h; DragonFly keeps one
 * per CPU in `tcpstats_percpu[]` and sums them only when read).
 *
 * Field names are the `tcpstat` names without the `tcps_` prefix. Where BSD has no
 * counter for a check this engine makes (RFC 5961, impossible flag combinations) the
 * name is chosen in the same style and says so below.
 */

/** Why the engine dropped (part of) a segment — the counter that went up. */
export const TcpInputDrop = {
  /** Checksum wrong (decode step). */
  rcvbadsum: "rcvbadsum",
  /** Shorter than a TCP header (decode step). */
  rcvshort: "rcvshort",
  /** Bad data offset (decode step). */
  rcvbadoff: "rcvbadoff",
  /** Malformed option (decode step, strict parsing). */
  badoptions: "badoptions",
  /** No connection for the segment: a RST was (or would have been) sent (BSD "closed port"). */
  noport: "noport",
  /** SYN and FIN together (BSD `drop_synfin`). */
  rcvsynfin: "rcvsynfin",
  /** SYN and RST together. */
  rcvsynrst: "rcvsynrst",
  /** ACK bit off in a synchronized state (RFC 9293 §3.10.7.4, fifth check). */
  rcvnoack: "rcvnoack",
  /** Timestamp older than ts_recent (PAWS, RFC 7323 §5). */
  pawsdrop: "pawsdrop",
  /** Data wholly outside the receive window: dropped, ACK sent. */
  rcvpackafterwin: "rcvpackafterwin",
  /** Segment wholly duplicate (already received): dropped, ACK sent. */
  rcvduppack: "rcvduppack",
  /** RST whose sequence is in the window but not exact (RFC 5961 §3.2): challenge ACK. */
  rstchallenge: "rstchallenge",
  /** RST outside the window (RFC 5961 §3.2): ignored. */
  badrst: "badrst",
  /** SYN in a synchronized state (RFC 5961 §4): challenge ACK. */
  badsyn: "badsyn",
  /** ACK for data never sent (RFC 5961 §5): dropped, ACK sent. */
  rcvacktoomuch: "rcvacktoomuch",
  /** ACK older than snd_una − max_sndwnd (RFC 5961 §5): dropped, ACK sent. */
  rcvackold: "rcvackold",
  /** Data after the application closed the socket: connection reset. */
  rcvafterclose: "rcvafterclose",
  /** In SYN_SENT: not a SYN, or an unacceptable ACK / RST. */
  synsentdrop: "synsentdrop",
  /** In SYN_RECEIVED: ACK outside snd_una … snd_max: RST sent. */
  synrcvdbadack: "synrcvdbadack",
  /** A non-SYN, RST or ACK segment at a listener (LISTEN state processing). */
  listendrop: "listendrop",
  /** A RST in TIME_WAIT (RFC 1337: ignored). */
  twrst: "twrst",
} as const;
export type TcpInputDrop = (typeof TcpInputDrop)[keyof typeof TcpInputDrop];

/** One CPU's counters. All fields are plain numbers so `++` stays cheap. */
export class TcpStats {
  // connections
  connattempt = 0; // connections initiated (connect)
  accepts = 0; // connections accepted (passive open reached ESTABLISHED)
  connects = 0; // connections established (both ends)
  drops = 0; // established connections dropped (reset, timeout)
  conndrops = 0; // embryonic connections dropped
  closed = 0; // TCBs released
  timewaitreuse = 0; // TIME_WAIT recycled by a new SYN
  // timers
  segstimed = 0;
  rttupdated = 0;
  delack = 0; // delayed ACKs sent
  timeoutdrop = 0; // dropped by retransmit / keepalive timeout
  rexmttimeo = 0; // retransmit timeouts
  persisttimeo = 0;
  keeptimeo = 0;
  keepprobe = 0;
  keepdrops = 0;
  // output
  sndtotal = 0;
  sndpack = 0; // data segments
  sndbyte = 0;
  sndrexmitpack = 0;
  sndrexmitbyte = 0;
  sndacks = 0; // pure ACKs
  sndprobe = 0; // window probes
  sndwinup = 0; // window updates
  sndctrl = 0; // SYN, FIN, RST
  sndrst = 0;
  sndchallengeack = 0; // RFC 5961 challenge ACKs sent (not a BSD counter)
  challengeacklimited = 0; // challenge ACKs suppressed by the rate limit
  // input
  rcvtotal = 0;
  rcvpack = 0; // in-order data segments
  rcvbyte = 0;
  rcvbadsum = 0;
  rcvbadoff = 0;
  rcvshort = 0;
  badoptions = 0;
  noport = 0;
  rcvduppack = 0;
  rcvdupbyte = 0;
  rcvpartduppack = 0;
  rcvpartdupbyte = 0;
  rcvoopack = 0; // out-of-order segments queued
  rcvoobyte = 0;
  rcvpackafterwin = 0;
  rcvbyteafterwin = 0;
  rcvafterclose = 0;
  rcvwinprobe = 0;
  rcvdupack = 0;
  rcvacktoomuch = 0;
  rcvackold = 0;
  rcvackpack = 0;
  rcvackbyte = 0;
  rcvwinupd = 0;
  pawsdrop = 0;
  rcvsynfin = 0;
  rcvsynrst = 0;
  rcvnoack = 0;
  badrst = 0;
  rstchallenge = 0;
  badsyn = 0;
  synsentdrop = 0;
  synrcvdbadack = 0;
  listendrop = 0;
  twrst = 0;
  mturesent = 0; // resends after ICMP frag-needed lowered the MSS (tcp_mtudisc)
  // loss recovery
  sndfastrexmit = 0; // fast retransmits (NewReno or SACK, first retransmission)
  sack_recovery_episode = 0;
  sack_rexmits = 0;
  sack_rexmit_bytes = 0;
  sack_rcv_blocks = 0;
  sack_send_blocks = 0;
  newreno_recovery_episode = 0;
  newreno_partialack = 0;
  ncrheld = 0; // duplicate ACKs at the fixed DupThresh that NCR's larger threshold held back (not a BSD counter)
  sndearlyrexmit = 0; // early retransmits (RFC 5827), also counted in sndfastrexmit
  sndrtobad = 0; // spurious timeout retransmissions undone
  sndfastrexmitbad = 0; // spurious fast retransmissions undone (Eifel or D-SACK)
  sndearlyrexmitbad = 0; // … of which early retransmits
  eifeldetected = 0; // spurious retransmissions detected by timestamps (RFC 3522)
  rttcantdetect = 0; // … that the RTT heuristic would have missed
  rttdetected = 0; // spurious timeouts detected by the RTT heuristic (no timestamps)
  eifelresponse = 0; // RTOs rebased after a spurious timeout (RFC 4015)
  sndsackopt = 0; // SACK options sent
  snddsackopt = 0; // D-SACK options sent (RFC 2883)
  rcvdsack = 0; // D-SACK blocks received (not a BSD counter)
  sackrescue = 0; // rescue retransmissions sent (RFC 6675 §4 rule 4)
  sackrescue_try = 0; // … and attempted
  // ECN, RFC 3168 (FreeBSD's tcpstat names: DragonFly has no ECN)
  ecn_shs = 0; // handshakes that agreed to ECN
  ecn_ce = 0; // segments received with CE
  ecn_ect0 = 0; // segments sent with ECT(0)
  ecn_rcwnd = 0; // cwnd reductions for ECE

  /** Adds every counter of `o` into this one. */
  add(o: TcpStats): this {
    for (const k of TCP_STAT_NAMES) this[k] += o[k];
    return this;
  }

  /** A plain copy `{ name: value }`. */
  snapshot(): Record<TcpStatName, number> {
    const r = {} as Record<TcpStatName, number>;
    for (const k of TCP_STAT_NAMES) r[k] = this[k];
    return r;
  }
}

export type TcpStatName = { [K in keyof TcpStats]: TcpStats[K] extends number ? K : never }[keyof TcpStats];

/** Every counter name, in declaration order. */
export const TCP_STAT_NAMES: readonly TcpStatName[] = Object.keys(new TcpStats()) as TcpStatName[];

/** Sum of several CPUs' counters (read side only; never on the packet path). */
export function tcpStatsSum(list: Iterable<TcpStats>): TcpStats {
  const s = new TcpStats();
  for (const x of list) s.add(x);
  return s;
}
