// The embedded transport: NATS core semantics between the threads of one process, a full MessageChannel mesh (usage in the README).
// A payload crosses threads as a transferred ArrayBuffer (`transfer`: zero copies, else one copy per batch); `kv()` is per thread.
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { NoRespondersError, RequestTimeoutError, TransportClosedError } from "./errors.js";
import { MemKv } from "./memkv.js";
import { checkSubject, subjectMatches } from "./subject.js";
import type { KvStore, Msg, MsgHandler, PublishOptions, RequestOptions, Subscription, Transport } from "./transport.js";

/** What a worker needs to join the mesh; pass `transferList` along with it. */
export interface InprocLink {
  readonly id: number;
  readonly control: MessagePort;
  readonly peers: { id: number; port: MessagePort }[];
  readonly transferList: MessagePort[];
}

type Wire =
  | { op: "hello"; subs: [number, string, string | null][] }
  | { op: "sub"; sid: number; subject: string; queue: string | null }
  | { op: "unsub"; sid: number }
  | { op: "msg"; s: string; b: ArrayBuffer; o: number; l: number; r: string | null; all: boolean; q: number[] | null }
  | { op: "ping"; n: number }
  | { op: "pong"; n: number }
  | { op: "bye" };

type Control = { op: "peer"; id: number; port: MessagePort } | { op: "gone"; id: number };

interface RemoteSub {
  sid: number;
  subject: string;
  queue: string | null;
}

interface Peer {
  id: number;
  port: MessagePort;
  subs: Map<number, RemoteSub>;
  hello: boolean;
}

interface LocalSub {
  sid: number;
  subject: string;
  queue: string | null;
  handler: MsgHandler;
}

/** Where one subject's messages go, cached per subject until a subscription changes. */
interface Route {
  local: LocalSub[];
  remote: Peer[];
  queues: { members: { peer: Peer | null; sid: number }[]; next: number }[];
}

const INBOX = "_INBOX.";

export class InprocHub {
  private nextId = 1;
  private readonly controls = new Map<number, MessagePort>();
  private closed = false;

  /** A link for a new peer (a worker, or this thread via `connect()`). */
  link(): InprocLink {
    if (this.closed) throw new TransportClosedError("inproc hub");
    const id = this.nextId++;
    const ctl = new MessageChannel();
    const peers: { id: number; port: MessagePort }[] = [];
    for (const [other, port] of this.controls) {
      const ch = new MessageChannel();
      port.postMessage({ op: "peer", id, port: ch.port1 } satisfies Control, [ch.port1]);
      peers.push({ id: other, port: ch.port2 });
    }
    ctl.port1.on("close", () => {
      this.controls.delete(id);
      for (const p of this.controls.values()) p.postMessage({ op: "gone", id } satisfies Control);
    });
    this.controls.set(id, ctl.port1);
    return { id, control: ctl.port2, peers, transferList: [ctl.port2, ...peers.map((p) => p.port)] };
  }

  /** A transport for the calling thread. */
  connect(): Promise<InprocTransport> {
    return connectInproc(this.link());
  }

  close(): void {
    this.closed = true;
    for (const p of this.controls.values()) p.close();
    this.controls.clear();
  }
}

/** Joins the mesh from any thread; resolves once every peer sent its subscriptions. */
export async function connectInproc(link: InprocLink): Promise<InprocTransport> {
  const t = new InprocTransport(link);
  await t.ready;
  return t;
}

class InprocMsg implements Msg {
  constructor(
    private readonly t: InprocTransport,
    readonly subject: string,
    readonly data: Uint8Array,
    readonly reply: string | undefined,
  ) {}
  respond(data: Uint8Array): boolean {
    if (this.reply === undefined) return false;
    this.t.publish(this.reply, data);
    return true;
  }
}

export class InprocTransport implements Transport {
  readonly kind = "inproc" as const;
  readonly id: number;
  readonly ready: Promise<void>;
  private readonly control: MessagePort;
  private readonly peers = new Map<number, Peer>();
  private readonly subs = new Map<number, LocalSub>();
  private readonly routes = new Map<string, Route>();
  private readonly pending = new Map<string, (m: Msg) => void>();
  private readonly pings = new Map<number, () => void>();
  private readonly buckets = new Map<string, MemKv>();
  private readonly localQueue: (() => void)[] = [];
  private nextSid = 1;
  private nextInbox = 1;
  private nextPing = 1;
  private closed = false;
  private helloWait = 0;
  private helloDone: () => void = () => {};

  constructor(link: InprocLink) {
    this.id = link.id;
    this.control = link.control;
    this.ready = new Promise((res) => (this.helloDone = res));
    this.control.on("message", (m: Control) => {
      if (m.op === "peer") this.addPeer(m.id, m.port, false);
      else this.dropPeer(m.id);
    });
    this.helloWait = link.peers.length;
    for (const p of link.peers) this.addPeer(p.id, p.port, true);
    if (this.helloWait === 0) this.helloDone();
  }

  private addPeer(id: number, port: MessagePort, initial: boolean): void {
    const peer: Peer = { id, port, subs: new Map(), hello: false };
    this.peers.set(id, peer);
    port.on("message", (w: Wire) => this.onWire(peer, w, initial));
    port.on("close", () => this.dropPeer(id));
    const subs: [number, string, string | null][] = [...this.subs.values()].map((s) => [s.sid, s.subject, s.queue]);
    port.postMessage({ op: "hello", subs } satisfies Wire);
    this.routes.clear();
  }

  private dropPeer(id: number): void {
    const p = this.peers.get(id);
    if (!p) return;
    this.peers.delete(id);
    p.port.close();
    this.routes.clear();
  }

  private onWire(peer: Peer, w: Wire, initial: boolean): void {
    switch (w.op) {
      case "msg":
        this.deliver(w.s, new Uint8Array(w.b, w.o, w.l), w.r ?? undefined, w.all, w.q);
        return;
      case "hello":
        for (const [sid, subject, queue] of w.subs) peer.subs.set(sid, { sid, subject, queue });
        this.routes.clear();
        if (initial && !peer.hello && --this.helloWait === 0) this.helloDone();
        peer.hello = true;
        return;
      case "sub":
        peer.subs.set(w.sid, { sid: w.sid, subject: w.subject, queue: w.queue });
        this.routes.clear();
        return;
      case "unsub":
        peer.subs.delete(w.sid);
        this.routes.clear();
        return;
      case "ping":
        peer.port.postMessage({ op: "pong", n: w.n } satisfies Wire);
        return;
      case "pong":
        this.pings.get(w.n)?.();
        return;
      case "bye":
        this.dropPeer(peer.id);
        return;
    }
  }

  private route(subject: string): Route {
    let r = this.routes.get(subject);
    if (r) return r;
    checkSubject(subject, false); // once per subject, on a cache miss
    const queues = new Map<string, { peer: Peer | null; sid: number }[]>();
    const addQ = (q: string, m: { peer: Peer | null; sid: number }) => {
      const l = queues.get(q);
      if (l) l.push(m);
      else queues.set(q, [m]);
    };
    const local: LocalSub[] = [];
    for (const s of this.subs.values()) {
      if (!subjectMatches(s.subject, subject)) continue;
      if (s.queue === null) local.push(s);
      else addQ(s.queue, { peer: null, sid: s.sid });
    }
    const remote: Peer[] = [];
    for (const p of this.peers.values()) {
      let any = false;
      for (const s of p.subs.values()) {
        if (!subjectMatches(s.subject, subject)) continue;
        if (s.queue === null) any = true;
        else addQ(s.queue, { peer: p, sid: s.sid });
      }
      if (any) remote.push(p);
    }
    r = { local, remote, queues: [...queues.values()].map((members) => ({ members, next: 0 })) };
    if (this.routes.size > 10_000) this.routes.clear(); // bound the cache (inbox subjects, many ad-hoc subjects)
    this.routes.set(subject, r);
    return r;
  }

  publish(subject: string, data: Uint8Array, opts?: PublishOptions): void {
    if (this.closed) throw new TransportClosedError(this.kind);
    const reply = opts?.reply ?? null;
    if (subject.startsWith(INBOX)) {
      this.publishInbox(subject, data, reply, opts?.transfer === true);
      return;
    }
    const r = this.route(subject);
    // Per destination peer: deliver to its plain subs (all) and/or the queue sids picked for it.
    const localAll = r.local.length > 0;
    let localQ: number[] | null = null;
    let picks: Map<Peer, number[]> | null = null;
    for (const q of r.queues) {
      const m = q.members[q.next++ % q.members.length];
      if (m.peer === null) (localQ ??= []).push(m.sid);
      else {
        picks ??= new Map();
        const l = picks.get(m.peer);
        if (l) l.push(m.sid);
        else picks.set(m.peer, [m.sid]);
      }
    }
    const targets: { peer: Peer; all: boolean; q: number[] | null }[] = [];
    for (const p of r.remote) targets.push({ peer: p, all: true, q: picks?.get(p) ?? null });
    if (picks) for (const [p, q] of picks) if (!r.remote.includes(p)) targets.push({ peer: p, all: false, q });
    const hasLocal = localAll || localQ !== null;
    const transfer = opts?.transfer === true && !hasLocal;
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i];
      const last = i === targets.length - 1;
      this.post(t.peer, subject, data, reply, t.all, t.q, transfer && last);
    }
    if (hasLocal) {
      const q = localQ;
      this.localQueue.push(() => this.deliver(subject, data, reply ?? undefined, localAll, q));
      if (this.localQueue.length === 1) queueMicrotask(() => this.drainLocal());
    }
  }

  private publishInbox(subject: string, data: Uint8Array, reply: string | null, transfer: boolean): void {
    const id = Number(subject.slice(INBOX.length, subject.indexOf(".", INBOX.length)));
    if (id === this.id) {
      this.localQueue.push(() => this.deliver(subject, data, reply ?? undefined, true, null));
      if (this.localQueue.length === 1) queueMicrotask(() => this.drainLocal());
      return;
    }
    const p = this.peers.get(id);
    if (p) this.post(p, subject, data, reply, true, null, transfer);
  }

  private post(peer: Peer, s: string, data: Uint8Array, r: string | null, all: boolean, q: number[] | null, transfer: boolean): void {
    if (transfer && data.buffer instanceof ArrayBuffer) {
      try {
        peer.port.postMessage({ op: "msg", s, b: data.buffer, o: data.byteOffset, l: data.byteLength, r, all, q } satisfies Wire, [data.buffer]);
        return;
      } catch {
        // untransferable (e.g. Node's Buffer pool): fall through to a copy
      }
    }
    const copy = new Uint8Array(data); // a copy (Buffer#slice would be a view)
    peer.port.postMessage({ op: "msg", s, b: copy.buffer, o: 0, l: copy.byteLength, r, all, q } satisfies Wire, [copy.buffer]);
  }

  private drainLocal(): void {
    // Handlers may publish locally again: those run in a later microtask.
    const batch = this.localQueue.splice(0);
    for (const f of batch) f();
  }

  private deliver(subject: string, data: Uint8Array, reply: string | undefined, all: boolean, q: number[] | null): void {
    if (this.closed) return;
    if (subject.startsWith(INBOX)) {
      const p = this.pending.get(subject);
      if (p) p(new InprocMsg(this, subject, data, reply));
      return;
    }
    const msg = new InprocMsg(this, subject, data, reply);
    if (all) for (const s of this.route(subject).local) this.call(s, msg);
    if (q) {
      for (const sid of q) {
        const s = this.subs.get(sid);
        if (s) this.call(s, msg);
      }
    }
  }

  private call(s: LocalSub, msg: Msg): void {
    try {
      s.handler(msg);
    } catch (err) {
      // A subscriber's bug must not take the bus down (nats.js logs it too).
      console.error(`inproc: handler for ${s.subject} threw:`, err);
    }
  }

  subscribe(subject: string, handler: MsgHandler, opts?: { queue?: string }): Subscription {
    if (this.closed) throw new TransportClosedError(this.kind);
    checkSubject(subject, true);
    const sid = this.nextSid++;
    const queue = opts?.queue ?? null;
    this.subs.set(sid, { sid, subject, queue, handler });
    this.routes.clear();
    for (const p of this.peers.values()) p.port.postMessage({ op: "sub", sid, subject, queue } satisfies Wire);
    return {
      subject,
      unsubscribe: () => {
        if (!this.subs.delete(sid)) return;
        this.routes.clear();
        if (!this.closed) for (const p of this.peers.values()) p.port.postMessage({ op: "unsub", sid } satisfies Wire);
      },
    };
  }

  request(subject: string, data: Uint8Array, opts?: RequestOptions): Promise<Msg> {
    if (this.closed) return Promise.reject(new TransportClosedError(this.kind));
    const timeoutMs = opts?.timeoutMs ?? 5000;
    const r = this.route(subject);
    if (r.local.length === 0 && r.remote.length === 0 && r.queues.length === 0) return Promise.reject(new NoRespondersError(subject));
    const inbox = `${INBOX}${this.id}.${this.nextInbox++}`;
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(inbox);
        reject(new RequestTimeoutError(subject, timeoutMs));
      }, timeoutMs);
      this.pending.set(inbox, (m) => {
        clearTimeout(timer);
        this.pending.delete(inbox);
        resolve(m);
      });
      this.publish(subject, data, { reply: inbox });
    });
  }

  async flush(): Promise<void> {
    if (this.closed) throw new TransportClosedError(this.kind);
    await Promise.all(
      [...this.peers.values()].map(
        (p) =>
          new Promise<void>((res) => {
            const n = this.nextPing++;
            const done = () => {
              this.pings.delete(n);
              p.port.off("close", done);
              res();
            };
            this.pings.set(n, done);
            p.port.once("close", done);
            p.port.postMessage({ op: "ping", n } satisfies Wire);
          }),
      ),
    );
    await new Promise<void>((res) => queueMicrotask(res));
  }

  async kv(bucket: string): Promise<KvStore> {
    let b = this.buckets.get(bucket);
    if (!b) this.buckets.set(bucket, (b = new MemKv(bucket)));
    return b;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.peers.values()) {
      p.port.postMessage({ op: "bye" } satisfies Wire);
      p.port.close();
    }
    this.peers.clear();
    this.control.close();
    for (const f of this.pings.values()) f();
  }
}
