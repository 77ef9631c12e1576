/**
 * SYN cookies as DragonFly's tcp_syncache.c makes them (syncookie_generate /
 * syncookie_lookup), so that a connection whose syncache entry was pushed out
 * by an overflow still completes (RFC 4987 §3.6).
 *
 * With net.inet.tcp.syncookies on, every SYN|ACK's ISS is a cookie:
 *
 *   data   = (mss index << 5 | window index) ^ peer ISN
 *   cookie = data ^ (MD5(laddr, faddr, secret[window], lport, fport)[0] & ~31)
 *
 * The window index names one of 32 secrets, each made afresh for a half-second
 * window and valid for 16 s. The cookie carries only the peer's MSS, rounded
 * down to one of {0, 536, 1460, 8960}: DragonFly's cookie encodes neither the
 * window scale, nor SACK-permitted, nor timestamps, so a connection made from a
 * cookie runs without them. The handshake's ACK is checked by recomputing the
 * hash: the bits outside the MSS index and window index must cancel. DragonFly
 * also accepts a cookie only for a listener whose queue overflowed within the
 * cookie lifetime (`ts_recent` of the listen tcpcb); `overflowedAt` holds that.
 */
import { createHash, randomBytes } from "node:crypto";

/** `tcp_msstab[]`: the MSS values a cookie can carry. */
export const TCP_MSSTAB: readonly number[] = [0, 536, 1460, 8960];
const SYNCOOKIE_WNDBITS = 5;
const SYNCOOKIE_WNDMASK = (1 << SYNCOOKIE_WNDBITS) - 1;
const SYNCOOKIE_NSECRETS = 1 << SYNCOOKIE_WNDBITS;
/** One window: hz >> SYNCOOKIE_TIMESHIFT(1) = half a second. */
const SYNCOOKIE_WINDOW_MS = 500;
/** SYNCOOKIE_TIMEOUT: hz × 32 / 2 = 16 s. */
export const SYNCOOKIE_TIMEOUT_MS = 16_000;
const SYNCOOKIE_DATAMASK = (3 << SYNCOOKIE_WNDBITS) | SYNCOOKIE_WNDMASK;

/** What a valid cookie gives back. */
export interface SynCookie {
  /** Our ISN (the cookie) and the peer's. */
  iss: number;
  irs: number;
  /** The peer's MSS as the cookie carried it (0: the peer sent none → mssdflt). */
  peerMss: number;
}

/** One CPU's cookie secrets (`tcp_secret[]`). */
export class SynCookieJar {
  private readonly secrets: Uint8Array[] = [];
  private readonly expire: number[] = [];

  constructor() {
    for (let i = 0; i < SYNCOOKIE_NSECRETS; i++) {
      this.secrets.push(new Uint8Array(16));
      this.expire.push(-Infinity);
    }
  }

  private md5(idx: number, laddr: number, faddr: number, lport: number, fport: number): number {
    const b = Buffer.alloc(28);
    b.writeUInt32BE(laddr >>> 0, 0);
    b.writeUInt32BE(faddr >>> 0, 4);
    b.set(this.secrets[idx], 8);
    b.writeUInt16BE(lport, 24);
    b.writeUInt16BE(fport, 26);
    return createHash("md5").update(b).digest().readUInt32BE(0);
  }

  /** `syncookie_generate`: the ISS for a SYN from faddr:fport with ISN `irs` and MSS option `peerMss` (0 = none). */
  generate(laddr: number, lport: number, faddr: number, fport: number, irs: number, peerMss: number, now: number): number {
    const idx = Math.floor(now / SYNCOOKIE_WINDOW_MS) & SYNCOOKIE_WNDMASK;
    if (this.expire[idx] < now) {
      this.secrets[idx] = randomBytes(16);
      this.expire[idx] = now + SYNCOOKIE_TIMEOUT_MS;
    }
    let m = TCP_MSSTAB.length - 1;
    for (; m > 0; m--) if (TCP_MSSTAB[m] <= peerMss) break;
    let data = ((m << SYNCOOKIE_WNDBITS) | idx) ^ irs;
    data ^= this.md5(idx, laddr, faddr, lport, fport) & ~SYNCOOKIE_WNDMASK;
    return data >>> 0;
  }

  /** `syncookie_lookup`: the handshake's ACK (seq, ack as received) → the cookie's content, or null when it is not ours or has expired. */
  lookup(laddr: number, lport: number, faddr: number, fport: number, seq: number, ack: number, now: number): SynCookie | null {
    const iss = (ack - 1) >>> 0;
    const irs = (seq - 1) >>> 0;
    let data = (iss ^ irs) >>> 0;
    const idx = data & SYNCOOKIE_WNDMASK;
    if (this.expire[idx] < now) return null;
    data = (data ^ this.md5(idx, laddr, faddr, lport, fport)) >>> 0;
    if (data & ~SYNCOOKIE_DATAMASK) return null;
    return { iss, irs, peerMss: TCP_MSSTAB[data >>> SYNCOOKIE_WNDBITS] };
  }
}
