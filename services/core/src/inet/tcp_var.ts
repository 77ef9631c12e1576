/**
 * The TCP control block and its vocabulary (sys/netinet/tcp_var.h, tcp_fsm.h).
 *
 * A TcpCb is compact on purpose (issue 4 target: ≤ 1 KiB per idle established
 * connection): every field is a small integer or a reference, sequence numbers are
 * signed 32-bit (see tcp_seq.ts), times are integer milliseconds since the engine's
 * epoch, buffers and the SACK scoreboard are allocated only while they hold
 * something, and no closure is created per connection — behaviour lives in the
 * tcp_* modules and the per-CPU TcpEngine.
 */
import type { TcpOptions } from "./tcp.js";
import type { TcpEngine } from "./tcp_engine.js";
import type { SockBuf } from "./tcp_sockbuf.js";
import type { TcpReassQueue } from "./tcp_reass.js";

/** RFC 9293 states, numbered as BSD's tcp_fsm.h so that order comparisons work. */
export const TcpState = {
  CLOSED: 0,
  LISTEN: 1,
  SYN_SENT: 2,
  SYN_RECEIVED: 3,
  ESTABLISHED: 4,
  CLOSE_WAIT: 5,
  FIN_WAIT_1: 6,
  CLOSING: 7,
  LAST_ACK: 8,
  FIN_WAIT_2: 9,
  TIME_WAIT: 10,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

/** State names as netstat prints them. */
export const TCP_STATE_NAMES: readonly string[] = [
  "CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT",
  "FIN_WAIT_1", "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT",
];

/** The TCB has been released (reads the field afresh, past any narrowing). */
export function tcpIsClosed(tp: { t_state: number }): boolean {
  return tp.t_state === TcpState.CLOSED;
}

export function TCPS_HAVERCVDSYN(s: number): boolean {
  return s >= TcpState.SYN_RECEIVED;
}
export function TCPS_HAVEESTABLISHED(s: number): boolean {
  return s >= TcpState.ESTABLISHED;
}
export function TCPS_HAVERCVDFIN(s: number): boolean {
  return s === TcpState.CLOSE_WAIT || (s >= TcpState.CLOSING && s !== TcpState.FIN_WAIT_2);
}

/** `t_flags` bits (BSD TF_* plus the socket-state bits this engine folds in). */
export const TF = {
  ACKNOW: 0x1, // ack peer immediately
  DELACK: 0x2, // ack, but try to delay it
  NODELAY: 0x4, // don't delay packets to coalesce (TCP_NODELAY)
  SENTFIN: 0x8, // we have sent a FIN
  REQ_SCALE: 0x10, // we asked for window scaling
  RCVD_SCALE: 0x20, // other side agreed to window scaling
  REQ_TSTMP: 0x40, // we asked for timestamps
  RCVD_TSTMP: 0x80, // timestamps in use
  SACK_PERMITTED: 0x100, // both sides agreed to SACK
  REQ_SACK: 0x200, // we offered SACK-permitted
  FASTRECOVERY: 0x400, // in loss recovery (SACK RFC 6675 or NewReno RFC 6582)
  PERSIST: 0x800, // the retransmit slot runs the persist timer
  FORCE: 0x1000, // send one byte even into a zero window (persist probe)
  RXWIN0SENT: 0x4000, // we advertised a zero window
  NEEDFIN: 0x8000, // send a FIN once the send buffer drains
  KEEPALIVE: 0x10000, // SO_KEEPALIVE
  // socket-side state (BSD so_state): kept here to avoid a second object per connection
  CANTSENDMORE: 0x20000, // shutdown(SHUT_WR) or close(): no more send()
  CANTRCVMORE: 0x40000, // FIN received (or reset): no more data will arrive
  NOFDREF: 0x80000, // the application closed the socket; the TCB lives on alone
  WANTWRITE: 0x100000, // send() was short: report WRITABLE when room appears
  PASSIVE: 0x200000, // created from a SYN (listener side)
  ESTEVENT: 0x400000, // ESTABLISHED event reported
  CLOSEDEVENT: 0x800000, // CLOSED event reported (TCB released)
  RCVEOFEVENT: 0x1000000, // PEER_CLOSED reported
  ONOUTPUTQ: 0x2000000, // queued for tcp_output at the end of the engine call (TF_ONOUTPUTQ)
  // ECN, RFC 3168 (FreeBSD's TF_ECN_PERMIT, TF_ECN_SND_ECE, TF_ECN_SND_CWR)
  ECN_PERMIT: 0x2000, // both sides agreed to ECN in the handshake
  ECN_SND_ECE: 0x4000000, // a CE mark arrived: ACKs carry ECE until the peer's CWR
  ECN_SND_CWR: 0x8000000, // we reduced cwnd for an ECE: the next new data carries CWR
} as const;

/** `rxt_flags` bits: what the last retransmission was, for undoing it (tcp_var.h TRXT_F_*). */
export const TRXT = {
  FIRSTACCACK: 0x1, // look at the first acceptable ACK (Eifel detection, RFC 3522)
  FASTREXMT: 0x2, // the saved state is a fast retransmit's, not a timeout's
  EARLYREXMT: 0x4, // … an early retransmit's (RFC 5827)
  REBASERTO: 0x8, // Eifel response pending: rebase the RTO on the next sample (RFC 4015 §2 step 6)
  DSACKEP: 0x10, // counting D-SACKs against this fast-retransmit episode's retransmissions (RFC 3708)
} as const;

/** `sack_flags` bits (tcp_var.h TSACK_F_*). */
export const TSACK = {
  SACKRESCUED: 0x1, // the rescue retransmission of this recovery episode went out (RFC 6675 §4 rule 4)
  DSACKPEND: 0x2, // a D-SACK block waits to be reported (RFC 2883 §4)
} as const;

/** Events reported to the per-CPU `onEvent` callback. */
export const TcpEvent = {
  /** Handshake complete (active: connect done; passive: ready to accept). */
  ESTABLISHED: "established",
  /** New in-order data is in the receive buffer. */
  READABLE: "readable",
  /** The send buffer has room again after a short send(). */
  WRITABLE: "writable",
  /** The peer's FIN arrived: recv() returns what is buffered, then end of stream. */
  PEER_CLOSED: "peer-closed",
  /** The connection was reset or timed out; `err` says why. CLOSED follows. */
  RESET: "reset",
  /** The TCB is released (after TIME_WAIT, LAST_ACK, a reset, …). Sent exactly once. */
  CLOSED: "closed",
} as const;
export type TcpEvent = (typeof TcpEvent)[keyof typeof TcpEvent];

/** Error reasons (errno names). */
export const TcpErrno = {
  ECONNREFUSED: "ECONNREFUSED",
  ECONNRESET: "ECONNRESET",
  ETIMEDOUT: "ETIMEDOUT",
  ECONNABORTED: "ECONNABORTED",
  EHOSTUNREACH: "EHOSTUNREACH",
  ENOPROTOOPT: "ENOPROTOOPT",
} as const;
export type TcpErrno = (typeof TcpErrno)[keyof typeof TcpErrno];

/**
 * A TCP segment as the engine sees it, in both directions. Numbers are unsigned
 * wire values. Structurally a `TcpPacketInit` (packet.ts), so an output segment
 * goes straight into `buildTcpPacket(seg)`; `tcpSegFromFrame` (tcp_input.ts)
 * makes one from a received frame.
 */
export interface TcpSeg {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  /** The 16-bit window field as carried (scaled by the sender's shift unless SYN). */
  window: number;
  options?: TcpOptions;
  payload: Uint8Array;
  /** The IP TOS byte; its low two bits are the ECN field (RFC 3168 §5). 0 when absent. */
  tos?: number;
}

/** Per-CPU knobs; defaults are DragonFly's (shared/notes/dragonfly-semantics.md §9). */
export interface TcpConfig {
  /** MSS we advertise and the largest we send (interface MTU 1500 − 40). */
  mss: number;
  /** MSS assumed when the peer sends none (`net.inet.tcp.mssdflt`, TCP_MSS 512). */
  mssdflt: number;
  /** RFC 7323 window scaling and timestamps (`net.inet.tcp.rfc1323`). */
  rfc1323: boolean;
  /** SACK (`net.inet.tcp.sack`). */
  sack: boolean;
  /** Initial RTO in ms (`low_rtobase` = 1 → 1 s). */
  rtoBase: number;
  /** Minimum RTO in ms (`net.inet.tcp.rexmit_min`, 30 ms). */
  rexmitMin: number;
  /** Added to every computed RTO (`net.inet.tcp.rexmit_slop`, hz/6 ≈ 160 ms). */
  rexmitSlop: number;
  /** Largest RTO (TCPTV_REXMTMAX, 64 s). */
  rexmitMax: number;
  /** Retransmissions before the connection is dropped (TCP_MAXRXTSHIFT 12). */
  maxRxtShift: number;
  /** Delayed ACKs on/off and their timeout (`delayed_ack`, `delacktime` 100 ms). */
  delayedAck: boolean;
  delackTime: number;
  /** Maximum segment lifetime in ms; TIME_WAIT lasts 2 × msl (`net.inet.tcp.msl`, 30 s). */
  msl: number;
  /** Socket buffer sizes (`sendspace`/`recvspace` 57344). */
  sendspace: number;
  recvspace: number;
  /** Initial window segments (`iwmaxsegs`/`iwcapsegs`, 4/4, values below 4 raised to 4). */
  iwMaxSegs: number;
  iwCapSegs: number;
  /** Limited transmit, RFC 3042 (`limitedtransmit` 1). */
  limitedTransmit: boolean;
  /** Duplicate ACK threshold for fast retransmit. */
  dupThresh: number;
  /** Keepalive: time to establish, idle before probing, probe interval, probes (75 s / 2 h / 75 s / 8). */
  keepInit: number;
  keepIdle: number;
  keepIntvl: number;
  keepCnt: number;
  /** Keepalive on every connection (`always_keepalive` 1). */
  alwaysKeepalive: boolean;
  /** Persist timer bounds (TCPTV_PERSMIN 5 s, TCPTV_PERSMAX 60 s). */
  persMin: number;
  persMax: number;
  /** RFC 5961 challenge ACKs allowed per second on this CPU (RFC 5961 §7). */
  challengeAckLimit: number;
  /**
   * ACK and output aggregation (`net.inet.tcp.aggregate_acks`, 1): the output that input
   * and the socket calls ask for runs once, when the engine call is over and its events
   * have been delivered (DragonFly's `tcp_willblock` rollup after a netisr batch) — so the
   * ACK of a SYN|ACK leaves with the request the program sends on CONNECTED, a response
   * leaves with the FIN of the close() that follows it, and the ACK of a FIN with our own
   * FIN. false: each asks tcp_output at once.
   */
  aggregateAcks: boolean;
  /** Eifel detection of spurious retransmissions by timestamps, RFC 3522, with RFC 4015's response (`net.inet.tcp.eifel` 1). */
  eifel: boolean;
  /** Non-congestion robustness, RFC 4653: the duplicate-ACK threshold follows the flight (`net.inet.tcp.ncr` 1; needs SACK). */
  ncr: boolean;
  /** The rescue retransmission of RFC 6675 §4 NextSeg() rule 4 (`net.inet.tcp.rescuesack` 1). */
  rescueSack: boolean;
  /** D-SACK, RFC 2883: report duplicates received; undo a fast retransmit whose retransmissions all come back D-SACKed (RFC 3708). */
  dsack: boolean;
  /** Early retransmit, RFC 5827 (`net.inet.tcp.earlyretransmit` 1; like DragonFly only with Eifel and timestamps, so it can be undone). */
  earlyRetransmit: boolean;
  /** ECN, RFC 3168 (`net.inet.tcp.ecn.enable`). DragonFly's TCP has no ECN, so it is off by default. */
  ecn: boolean;
  /** Path MTU discovery, RFC 1191 (`net.inet.tcp.path_mtu_discovery`, 1): ICMP frag-needed lowers the MSS. */
  pathMtuDiscovery: boolean;
  /** ICMP port/admin unreachable or time exceeded aborts a connection in SYN_SENT (`net.inet.tcp.icmp_may_rst`, 1). */
  icmpMayRst: boolean;
}

export const TCP_DEFAULTS: Readonly<TcpConfig> = Object.freeze({
  mss: 1460,
  mssdflt: 512,
  rfc1323: true,
  sack: true,
  rtoBase: 1000,
  rexmitMin: 30,
  rexmitSlop: 160,
  rexmitMax: 64_000,
  maxRxtShift: 12,
  delayedAck: true,
  delackTime: 100,
  msl: 30_000,
  sendspace: 57344,
  recvspace: 57344,
  iwMaxSegs: 4,
  iwCapSegs: 4,
  limitedTransmit: true,
  dupThresh: 3,
  keepInit: 75_000,
  keepIdle: 7_200_000,
  keepIntvl: 75_000,
  keepCnt: 8,
  alwaysKeepalive: true,
  persMin: 5_000,
  persMax: 60_000,
  challengeAckLimit: 1000,
  aggregateAcks: true,
  eifel: true,
  ncr: true,
  rescueSack: true,
  dsack: true,
  earlyRetransmit: true,
  ecn: false,
  pathMtuDiscovery: true,
  icmpMayRst: true,
});

/** Per-connection choices made at creation (socket options, per-route overrides). */
export interface TcpConnOptions {
  /** Initial send sequence number (default: RFC 6528 style from the engine). */
  iss?: number;
  /** MSS to advertise (e.g. from the route's MTU); default engine config. */
  mss?: number;
  /** Per-route initial window in segments (`rmx_iwmaxsegs`; honoured when ≥ 4). */
  iwSegs?: number;
  /** SO_SNDBUF / SO_RCVBUF. */
  sndbuf?: number;
  rcvbuf?: number;
  /** TCP_NODELAY. */
  nodelay?: boolean;
  /** SO_KEEPALIVE (always on when the engine's alwaysKeepalive is set). */
  keepalive?: boolean;
  /** Opaque handle for the socket layer, stored in `tp.so`. */
  so?: unknown;
}

/**
 * `a` then `b` (b's fields win where set) and the socket handle `so`, as one object whose
 * fields are always all present (undefined when unset) in one order: every connection's
 * options share a hidden class, so reading them stays a monomorphic load (object spreads
 * of optional fields made a new shape per combination).
 */
export function tcpConnOptionsMerge(a: TcpConnOptions | undefined, b: TcpConnOptions | undefined, so?: unknown): TcpConnOptions {
  return {
    iss: b?.iss ?? a?.iss,
    mss: b?.mss ?? a?.mss,
    iwSegs: b?.iwSegs ?? a?.iwSegs,
    sndbuf: b?.sndbuf ?? a?.sndbuf,
    rcvbuf: b?.rcvbuf ?? a?.rcvbuf,
    nodelay: b?.nodelay ?? a?.nodelay,
    keepalive: b?.keepalive ?? a?.keepalive,
    so: so !== undefined ? so : (b?.so ?? a?.so),
  };
}

/** A timer slot that is not running. */
export const TIMER_OFF = -1;

export class TcpCb {
  /** The socket layer's handle (opaque to the engine). */
  so: unknown = null;
  t_state: TcpState = TcpState.CLOSED;
  t_flags = 0;
  /** Why the connection failed (set with RESET), else null. */
  t_error: TcpErrno | null = null;
  /** The last ICMP error (`t_softerror`): reported if the connection then times out. */
  t_softerror: TcpErrno | null = null;

  // send sequence space (RFC 9293 §3.3.1)
  iss = 0;
  snd_una = 0;
  snd_nxt = 0;
  snd_max = 0;
  snd_wl1 = 0;
  snd_wl2 = 0;
  snd_wnd = 0;
  max_sndwnd = 0;
  // congestion control
  snd_cwnd = 0;
  snd_ssthresh = 0x3fffffff;
  snd_wacked = 0; // bytes acked toward the next congestion-avoidance increase
  snd_recover = 0; // NewReno `recover` / RFC 6675 RecoveryPoint
  rexmt_high = 0; // RFC 6675 HighRxt (one past the highest retransmitted octet)
  t_dupacks = 0;
  t_rxtthresh = 0; // duplicate ACKs that start fast retransmit (NCR moves it); 0 = the config's dupThresh
  // undoing a spurious retransmission (tcp_save_congestion_state; Eifel, RFC 3522/4015; RFC 3708)
  rxt_flags = 0;
  snd_cwnd_prev = 0;
  snd_wacked_prev = 0;
  snd_ssthresh_prev = 0;
  snd_recover_prev = 0;
  snd_max_prev = 0;
  t_rexmtTS = 0; // our TSval when the first retransmission left (RetransmitTS)
  t_badrxtwin = 0; // an ACK before this time (ms) makes a first timeout spurious (RTT heuristic)
  t_rxtcur_prev = 0;
  t_srtt_prev = 0;
  t_rttvar_prev = 0;
  t_rxtbytes = 0; // octets retransmitted in this fast-retransmit episode
  t_dsackbytes = 0; // … and D-SACKed back
  t_rxtlow = 0; // snd_una when the episode began: its retransmissions lie in [t_rxtlow, snd_max_prev)
  // SACK extras
  sack_flags = 0;
  rexmt_rescue = 0; // RFC 6675 RescueRxt
  t_dsack_start = 0; // the D-SACK block to report, [start, end)
  t_dsack_end = 0;
  t_ecnrecover = 0; // no second ECN reduction before this is acknowledged (RFC 3168 §6.1.2)
  // receive sequence space
  irs = 0;
  rcv_nxt = 0;
  rcv_wnd = 0;
  rcv_adv = 0;
  last_ack_sent = 0;
  // negotiated options
  t_maxopd = 0; // MSS without options
  t_maxseg = 0; // payload per full segment (MSS − timestamp option)
  t_mssopt = 0; // MSS we advertise in our SYN or SYN|ACK
  snd_scale = 0;
  rcv_scale = 0;
  request_r_scale = 0;
  ts_recent = 0;
  ts_recent_age = 0;
  ts_offset = 0;
  // round-trip timing (RFC 6298), ms; srtt scaled ×8, rttvar ×4, 0 = no sample yet
  t_srtt = 0;
  t_rttvar = 0;
  t_rxtcur = 0;
  t_rxtshift = 0;
  t_rtttime = -1; // when the timed segment was sent, −1 if none
  t_rtseq = 0;
  t_rcvtime = 0; // last segment received (keepalive idle)
  t_iwsegs = 0; // per-route initial window override (0 = engine default)
  t_rxtsyn = 0; // ms spent waiting on SYN or SYN|ACK retransmissions
  // timers: absolute deadlines in engine ms, TIMER_OFF when idle
  tt_rexmt = TIMER_OFF; // retransmit, or persist when TF.PERSIST
  tt_delack = TIMER_OFF;
  tt_keep = TIMER_OFF;
  tt_2msl = TIMER_OFF;
  t_tkey = TIMER_OFF; // key in the engine's timer heap (≤ every running deadline)
  t_tidx = -1; // index in the engine's timer heap, −1 when absent
  // buffers (null while empty)
  snd_sb: SockBuf | null = null;
  rcv_sb: SockBuf | null = null;
  t_reass: TcpReassQueue | null = null;
  /** SACK scoreboard: sorted, disjoint [start, end) pairs above snd_una; null if none. */
  t_scb: number[] | null = null;
  snd_hiwat: number;
  rcv_hiwat: number;
  /** Addresses as signed 32-bit (small integers in V8, unlike values ≥ 2^31); see laddr/faddr. */
  readonly inp_laddr: number;
  readonly inp_faddr: number;

  constructor(
    readonly engine: TcpEngine,
    laddr: number,
    readonly lport: number,
    faddr: number,
    readonly fport: number,
  ) {
    this.snd_hiwat = engine.config.sendspace;
    this.rcv_hiwat = engine.config.recvspace;
    this.inp_laddr = laddr | 0;
    this.inp_faddr = faddr | 0;
  }

  /** Local IPv4 address (unsigned, 10.0.0.1 → 0x0a000001). */
  get laddr(): number {
    return this.inp_laddr >>> 0;
  }
  /** Foreign IPv4 address (unsigned). */
  get faddr(): number {
    return this.inp_faddr >>> 0;
  }

  get state(): TcpState {
    return this.t_state;
  }
  get stateName(): string {
    return TCP_STATE_NAMES[this.t_state];
  }
  /** Bytes waiting in the send buffer (sent-unacked plus unsent). */
  get sndCc(): number {
    return this.snd_sb ? this.snd_sb.cc : 0;
  }
  /** Bytes readable with recv(). */
  get rcvCc(): number {
    return this.rcv_sb ? this.rcv_sb.cc : 0;
  }
  /** Out-of-order bytes held for reassembly. */
  get reassCc(): number {
    return this.t_reass ? this.t_reass.bytes : 0;
  }
}
