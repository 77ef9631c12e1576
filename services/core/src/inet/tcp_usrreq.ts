/**
 * The socket-facing side of a TCB (sys/netinet/tcp_usrreq.c `tcp_usr_*`,
 * `tcp_connect`, `tcp_disconnect`, `tcp_usrclosed`): active open, send, receive,
 * shutdown, close, abort. Sends are asynchronous: `tcpUsrSend` copies what fits in
 * the send buffer, returns that count at once, and the engine reports WRITABLE when
 * room appears again.
 *
 * These functions are called through TcpEngine (which sets the time and delivers
 * events afterwards); misuse throws one of the error classes below.
 */
import { TcpErrno, TcpState, TF, tcpIsClosed, type TcpCb, type TcpConnOptions } from "./tcp_var.js";
import type { TcpEngine } from "./tcp_engine.js";
import type { SockBuf } from "./tcp_sockbuf.js";
import { tcpOutput } from "./tcp_output.js";
import { tcpClose, tcpDrop, tcpNewTcpcb, tcpSendSeqInit } from "./tcp_subr.js";
import { tcpTimerSet, TcpTimer } from "./tcp_timer.js";

const EMPTY = new Uint8Array(0);

/** send/recv/shutdown on a connection that is not (or no longer) connected (ENOTCONN). */
export class TcpNotConnectedError extends Error {
  override readonly name = "TcpNotConnectedError";
  readonly code = "ENOTCONN";
  constructor(readonly state: string) {
    super(`TCP connection is not connected (state ${state})`);
  }
}

/** send after shutdown(SHUT_WR) or close (EPIPE). */
export class TcpBrokenPipeError extends Error {
  override readonly name = "TcpBrokenPipeError";
  readonly code = "EPIPE";
  constructor(readonly state: string) {
    super(`TCP send after shutdown (state ${state})`);
  }
}

/** send/recv on a connection that failed: reset, refused, timed out or aborted. */
export class TcpConnectionError extends Error {
  override readonly name = "TcpConnectionError";
  constructor(readonly code: TcpErrno) {
    super(`TCP connection failed: ${code}`);
  }
}

/** Active open (`tcp_connect`): a TCB in SYN_SENT whose SYN is already on its way. */
export function tcpUsrConnect(
  e: TcpEngine, laddr: number, lport: number, faddr: number, fport: number, opts?: TcpConnOptions,
): TcpCb {
  const tp = tcpNewTcpcb(e, laddr, lport, faddr, fport, opts);
  tp.t_state = TcpState.SYN_SENT;
  tcpSendSeqInit(tp, opts?.iss ?? e.issFor(tp.laddr, lport, tp.faddr, fport));
  e.stats.connattempt++;
  tcpTimerSet(tp, TcpTimer.KEEP, e.config.keepInit);
  tcpOutput(tp);
  return tp;
}

/**
 * Queues as much of `data` as the send buffer has room for and returns that count
 * (possibly 0); a short count arms a WRITABLE event. Data queued before the
 * handshake completes goes out once it does.
 */
export function tcpUsrSend(tp: TcpCb, data: Uint8Array): number {
  if (tp.t_error) throw new TcpConnectionError(tp.t_error);
  if (tp.t_flags & TF.CANTSENDMORE) throw new TcpBrokenPipeError(tp.stateName);
  if (tp.t_state === TcpState.CLOSED || tp.t_state === TcpState.LISTEN) throw new TcpNotConnectedError(tp.stateName);
  if (data.length === 0) return 0;
  const room = tp.snd_hiwat - tp.sndCc;
  const n = room < data.length ? Math.max(room, 0) : data.length;
  if (n > 0) {
    if (!tp.snd_sb) tp.snd_sb = tp.engine.sbGet(true);
    tp.snd_sb.append(data, 0, n);
  }
  if (n < data.length) tp.t_flags |= TF.WANTWRITE;
  if (n > 0) tp.engine.outputSoon(tp);
  return n;
}

/**
 * Takes up to `max` received bytes. Returns an empty array when nothing is buffered
 * yet, null at end of stream (peer's FIN and everything read). Reading may open the
 * window enough to send a window update.
 */
export function tcpUsrRecv(tp: TcpCb, max = Number.MAX_SAFE_INTEGER): Uint8Array | null {
  const sb = tp.rcv_sb;
  if (!sb || sb.cc === 0) {
    if (tp.t_error) throw new TcpConnectionError(tp.t_error);
    if (tp.t_flags & TF.CANTRCVMORE) return null;
    if (tp.t_state === TcpState.CLOSED) throw new TcpNotConnectedError(tp.stateName);
    return EMPTY;
  }
  const out = sb.read(max);
  recvDone(tp, sb);
  return out;
}

/**
 * `tcpUsrRecv` into the caller's `dst[at, at+max)`: how many bytes were copied (0: nothing
 * buffered yet), or -1 at end of stream. No view of the receive buffer goes out, so its
 * chunk is written again by the next data (no allocation per segment).
 */
export function tcpUsrRecvInto(tp: TcpCb, dst: Uint8Array, at: number, max: number): number {
  const sb = tp.rcv_sb;
  if (!sb || sb.cc === 0 || max <= 0) {
    if (sb && sb.cc > 0) return 0;
    if (tp.t_error) throw new TcpConnectionError(tp.t_error);
    if (tp.t_flags & TF.CANTRCVMORE) return -1;
    if (tp.t_state === TcpState.CLOSED) throw new TcpNotConnectedError(tp.stateName);
    return 0;
  }
  const n = sb.readInto(dst, at, max);
  recvDone(tp, sb);
  return n;
}

/** After a read: an emptied buffer goes back to the engine; the window may have opened. */
function recvDone(tp: TcpCb, sb: SockBuf): void {
  if (sb.cc === 0) {
    tp.rcv_sb = null;
    tp.engine.sbPut(sb, false);
  }
  if (!tcpIsClosed(tp)) tp.engine.outputSoon(tp);
}

/** The state change of a user close or shutdown (`tcp_usrclosed`). */
function tcpUsrClosed(tp: TcpCb): void {
  switch (tp.t_state) {
    case TcpState.CLOSED:
    case TcpState.LISTEN:
      tcpClose(tp);
      break;
    case TcpState.SYN_SENT:
    case TcpState.SYN_RECEIVED:
      // FIN goes out once the handshake completes (tcpEstablished).
      tp.t_flags |= TF.NEEDFIN;
      break;
    case TcpState.ESTABLISHED:
      tp.t_state = TcpState.FIN_WAIT_1;
      break;
    case TcpState.CLOSE_WAIT:
      tp.t_state = TcpState.LAST_ACK;
      break;
  }
}

/** shutdown(SHUT_WR): FIN after the queued data. Idempotent. */
export function tcpUsrShutdown(tp: TcpCb): void {
  if (tp.t_state === TcpState.CLOSED) {
    if (tp.t_error) return;
    throw new TcpNotConnectedError(tp.stateName);
  }
  if (tp.t_flags & TF.CANTSENDMORE) return;
  tp.t_flags |= TF.CANTSENDMORE;
  tp.t_flags &= ~TF.WANTWRITE;
  tcpUsrClosed(tp);
  if (!tcpIsClosed(tp)) tp.engine.outputSoon(tp);
}

/**
 * close() (`tcp_disconnect`): the application lets go. Unread data is discarded,
 * queued data is still delivered and followed by a FIN; the TCB lives on by itself
 * (FIN_WAIT_*, TIME_WAIT) and reports CLOSED when released. Before the handshake
 * completes the TCB is simply released.
 */
export function tcpUsrClose(tp: TcpCb): void {
  if (tp.t_flags & TF.NOFDREF) return;
  tp.t_flags |= TF.NOFDREF;
  tp.t_flags &= ~TF.WANTWRITE;
  tp.rcv_sb = null;
  if (tp.t_state === TcpState.CLOSED) return;
  if (tp.t_state < TcpState.ESTABLISHED) {
    tcpClose(tp);
    return;
  }
  if (!(tp.t_flags & TF.CANTSENDMORE)) {
    tp.t_flags |= TF.CANTSENDMORE;
    tcpUsrClosed(tp);
  }
  const e = tp.engine;
  if (tp.t_state === TcpState.FIN_WAIT_2) tcpTimerSet(tp, TcpTimer.TWOMSL, e.config.keepCnt * e.config.keepIntvl);
  if (!tcpIsClosed(tp)) e.outputSoon(tp);
}

/** abort (close with SO_LINGER 0, `tcp_usr_abort`): RST to the peer, TCB released. */
export function tcpUsrAbort(tp: TcpCb): void {
  if (tp.t_state === TcpState.CLOSED) return;
  tp.t_flags |= TF.NOFDREF;
  tcpDrop(tp, TcpErrno.ECONNABORTED);
}

/** TCP_NODELAY. */
export function tcpUsrSetNodelay(tp: TcpCb, on: boolean): void {
  if (on) {
    tp.t_flags |= TF.NODELAY;
    if (tp.t_state >= TcpState.ESTABLISHED) tcpOutput(tp);
  } else tp.t_flags &= ~TF.NODELAY;
}
