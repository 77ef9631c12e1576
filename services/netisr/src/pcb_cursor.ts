/** The PCB listing cursor behind `list` netmsgs (netstat -an): connections, then listeners; idle cursors close after CURSOR_IDLE_MS. */
import { formatRouteAddress, INP, InpcbListCursor, TCP_STATE_NAMES, type TcpCb } from "@dfly/core";
import type { PcbWire } from "@dfly/wire";
import type { TcpHost } from "./tcp_host.js";

/** An abandoned listing cursor is closed after this long. */
const CURSOR_IDLE_MS = 30_000;

export class PcbCursors {
  private readonly cursors = new Map<number, { c: InpcbListCursor<TcpCb>; at: number; listeners: boolean }>();
  private next = 1;

  constructor(private readonly cpu: number) {}

  /** One step of the listing `token` (0: a new one): at most `limit` rows. */
  step(host: TcpHost, token: number, limit: number): { token: number; done: boolean; rows: PcbWire[] } {
    let cur = token ? this.cursors.get(token) : undefined;
    if (token && !cur) return { token: 0, done: true, rows: [] }; // expired: the walk of this CPU ends
    if (!cur) {
      token = this.next++;
      cur = { c: new InpcbListCursor<TcpCb>(host.pcb), at: Date.now(), listeners: false };
      this.cursors.set(token, cur);
    }
    cur.at = Date.now();
    const rows: PcbWire[] = [];
    const c = cur.c;
    // Only this CPU's partition holds connections here; the others hold only listener references.
    while (rows.length < limit && !c.done) {
      const batch = c.next(limit - rows.length);
      if (batch.length === 0) break;
      for (const inp of batch) {
        if (inp.flags & INP.WILDCARD || inp.cpu !== this.cpu) continue;
        const tp = inp.ppcb;
        rows.push({
          cpu: this.cpu,
          laddr: formatRouteAddress(inp.laddr >>> 0),
          lport: inp.lport,
          faddr: formatRouteAddress(inp.faddr >>> 0),
          fport: inp.fport,
          state: tp ? TCP_STATE_NAMES[tp.t_state] : "CLOSED",
          recvQ: tp ? tp.rcvCc : 0,
          sendQ: tp ? tp.sndCc : 0,
          qlimit: 0,
          listener: inp.head ? (host.listenerOf(inp.head)?.id ?? "") : "",
          index: -1,
        });
      }
    }
    if (!c.done) return { token, done: false, rows };
    if (!cur.listeners) {
      cur.listeners = true;
      for (const l of host.listenerList()) {
        rows.push({
          cpu: this.cpu,
          laddr: formatRouteAddress(l.ls.laddr >>> 0),
          lport: l.ls.lport,
          faddr: "0.0.0.0",
          fport: 0,
          state: "LISTEN",
          recvQ: l.ls.qlen,
          sendQ: 0,
          qlimit: l.ls.qlimit,
          listener: l.id,
          index: l.index,
        });
      }
    }
    this.cursors.delete(token);
    return { token: 0, done: true, rows };
  }

  /** Closes the cursors idle for too long (the CPU's timer). */
  expire(): void {
    if (this.cursors.size === 0) return;
    const now = Date.now();
    for (const [k, v] of this.cursors) {
      if (now - v.at > CURSOR_IDLE_MS) {
        v.c.close();
        this.cursors.delete(k);
      }
    }
  }

  close(): void {
    for (const c of this.cursors.values()) c.c.close();
    this.cursors.clear();
  }
}
