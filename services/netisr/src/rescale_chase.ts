/** Chase and fence: calls for a moved socket follow it to its new CPU, which holds direct calls until the fence, keeping byte order. */
import { subjects, type Msg } from "@dfly/transport";
import { decodeNetmsg, encodeNetmsg, SockNetmsg } from "@dfly/wire";
import type { So } from "./so.js";
import { decodeChase, encodeChase, RescaleNetmsg } from "./rescale_netmsg.js";
import type { TcpRescale } from "./tcp_rescale.js";

/** How long a hand-over's origin (`from/oldId`) is remembered for chased calls. */
const ADOPTED_KEEP_MS = 15_000;

/** Socket calls that name one socket by `id` (chased and fenced). */
export const PER_SOCKET_CALLS = [SockNetmsg.send, SockNetmsg.shutdown, SockNetmsg.close, SockNetmsg.setopt] as const;

/** A connection on its way to another CPU (drain), or gone there. */
export interface Moved {
  cpu: number;
  oldId: number;
  newId: number;
  acked: boolean;
  /** Socket calls that arrived before the acknowledgement (chased after it, in order). */
  calls: Msg[];
}

export class RescaleChase {
  /** Drain: connections handed over (or on their way), by key and by old socket id. */
  readonly moved = new Map<string, Moved>();
  private readonly movedById = new Map<number, Moved>();
  /** Hand-overs installed here: `${from}/${oldId}` → the socket. */
  private readonly adopted = new Map<string, { so: So; until: number }>();
  /** Moved sockets whose direct calls wait for the fence: new id → held calls. */
  private readonly fenced = new Map<number, { held: { m: Msg; b: Record<string, unknown> }[]; until: number }>();

  constructor(
    private readonly r: TcpRescale,
    private readonly fenceMs: number,
    private readonly requestMs: number,
  ) {}

  /** A connection leaves this CPU: its segments and calls are forwarded from now on. */
  leave(key: string, oldId: number): Moved {
    const mv: Moved = { cpu: -1, oldId, newId: 0, acked: false, calls: [] };
    this.moved.set(key, mv);
    if (oldId) this.movedById.set(oldId, mv);
    return mv;
  }

  /** The hand-over of `mv` was acknowledged: the calls it held are chased. */
  acked(mv: Moved, to: number, newId: number): void {
    mv.cpu = to;
    mv.newId = newId;
    mv.acked = true;
    const calls = mv.calls;
    mv.calls = [];
    for (const m of calls) this.chase(mv, m);
  }

  /** A connection arrived here: calls chased from `from/oldId` reach `so`; direct ones wait for the fence. */
  adopt(from: number, oldId: number, so: So, id: number, fence: boolean): void {
    const now = this.r.now();
    this.adopted.set(`${from}/${oldId}`, { so, until: now + ADOPTED_KEEP_MS });
    if (fence) this.fenced.set(id, { held: [], until: now + this.fenceMs });
  }

  /** A per-socket call on the port: true when taken here (socket moved away or fenced), false when the socket port should run it. */
  onSocketCall(m: Msg): boolean {
    if (this.movedById.size === 0 && this.fenced.size === 0) return false;
    const r = decodeNetmsg(m.data);
    if (typeof r === "string" || r.type !== "socket" || typeof r.body !== "object" || r.body === null) return false;
    return this.onCall(m, r.body as Record<string, unknown>);
  }

  onFence(m: Msg): void {
    const r = decodeNetmsg(m.data);
    if (typeof r === "string" || r.type !== "socket" || typeof r.body !== "object" || r.body === null) {
      this.r.stats.dropped.bad++;
      if (m.reply) m.respond(encodeNetmsg.reply(0, false, undefined, "malformed rescale netmsg"));
      return;
    }
    this.onCall(m, r.body as Record<string, unknown>);
  }

  /** Calls held behind an unarrived fence stay in order; released, they come back through here and are chased on. */
  private onCall(m: Msg, b: Record<string, unknown>): boolean {
    const id = b.id;
    if (typeof id !== "number") return false;
    const f = this.fenced.get(id);
    if (f) {
      f.held.push({ m, b });
      if (m.data[0] !== RescaleNetmsg.fence) this.r.stats.fenced++;
      return true;
    }
    const mv = this.movedById.get(id);
    if (mv) {
      if (!mv.acked) mv.calls.push(m);
      else this.chase(mv, m);
      return true;
    }
    return m.data[0] === RescaleNetmsg.fence; // a fence for nothing here: done
  }

  /** Forwards a call to the moved socket's CPU (the reply, if any, comes back through here). */
  private chase(mv: Moved, m: Msg): void {
    const data = encodeChase(this.r.me, mv.oldId, m.data);
    this.r.stats.chased++;
    const tcp = this.r.tcp;
    const subject = subjects.netisr(tcp.cluster, mv.cpu);
    if (!m.reply) {
      tcp.transport.publish(subject, data);
      return;
    }
    tcp.transport.request(subject, data, { timeoutMs: this.requestMs }).then(
      (r) => m.respond(r.data),
      (err: Error) => m.respond(encodeNetmsg.reply(0, false, undefined, `cpu ${mv.cpu}: ${err.message}`)),
    );
  }

  /** The `chase` netmsg: a call for a socket that came here from `from`. */
  onChase(m: Msg): void {
    const c = decodeChase(m.data);
    if (!c) {
      this.r.stats.dropped.bad++;
      return;
    }
    const ad = this.adopted.get(`${c.from}/${c.oldId}`);
    if (!ad) {
      if (m.reply) m.respond(encodeNetmsg.reply(0, false, undefined, `no socket ${c.from}/${c.oldId} here`));
      return;
    }
    if (c.inner[0] === RescaleNetmsg.fence) {
      this.releaseFence(ad.so.id);
      return;
    }
    const r = decodeNetmsg(c.inner);
    if (typeof r === "string" || r.type !== "socket" || typeof r.body !== "object" || r.body === null) {
      this.r.stats.dropped.bad++;
      return;
    }
    const rewritten = encodeNetmsg.socket(r.code, r.id, { ...(r.body as Record<string, unknown>), id: ad.so.id });
    const msg: Msg = { subject: m.subject, data: rewritten, ...(m.reply ? { reply: m.reply } : {}), respond: (x) => m.respond(x) };
    // A socket moved twice (it came here from `from` and left again): chase it on.
    const again = this.movedById.get(ad.so.id);
    if (again) {
      if (!again.acked) again.calls.push(msg);
      else this.chase(again, msg);
      return;
    }
    this.r.tcp.usrreq.socketPort(msg);
  }

  private releaseFence(id: number): void {
    const f = this.fenced.get(id);
    if (!f) return;
    this.fenced.delete(id);
    // Through onCall again: the socket may have moved on meanwhile (then they are chased).
    for (const { m, b } of f.held) if (!this.onCall(m, b)) this.r.tcp.usrreq.socketPort(m);
  }

  /** Every tick: fences that waited too long are released, old origins forgotten. */
  tick(now: number): void {
    for (const [id, f] of this.fenced) if (now >= f.until) this.releaseFence(id);
    for (const [k, a] of this.adopted) if (now >= a.until) this.adopted.delete(k);
  }
}
