/** The Transport and KvStore over a real nats-server; the only file that imports the NATS client. */
import { connect, errors as natsErrors, type NatsConnection, type Msg as NatsMsg } from "@nats-io/transport-node";
import { Kvm, KvWatchInclude, type KV } from "@nats-io/kv";
import { KvExistsError, NoRespondersError, RequestTimeoutError, TransportClosedError } from "./errors.js";
import { checkKvKey, checkSubject } from "./subject.js";
import type { KvEntry, KvStore, Msg, MsgHandler, PublishOptions, RequestOptions, Subscription, Transport } from "./transport.js";

export interface NatsTransportOptions {
  /** `nats://host:port` (comma-separated for several). */
  url: string;
  /** Connection name shown by the server (e.g. `dfly-netisr-3`). */
  name?: string;
  /** Replicas of the KV buckets this transport creates (1 for a single server). */
  kvReplicas?: number;
  /** The NATS user of this role (the server's per-role permissions) and its password. */
  user?: string;
  pass?: string;
  /** PEM CA file: TLS to the server, verified against it. */
  tlsCa?: string;
}

function wrap(m: NatsMsg): Msg {
  return {
    subject: m.subject,
    data: m.data,
    reply: m.reply || undefined,
    respond: (data: Uint8Array) => m.respond(data),
  };
}

export class NatsTransport implements Transport {
  readonly kind = "nats" as const;
  private readonly buckets = new Map<string, Promise<KvStore>>();
  private closed = false;

  private constructor(
    readonly nc: NatsConnection,
    private readonly opts: NatsTransportOptions,
  ) {}

  static async connect(opts: NatsTransportOptions): Promise<NatsTransport> {
    const nc = await connect({
      servers: opts.url.split(","),
      name: opts.name,
      ...(opts.user !== undefined ? { user: opts.user, pass: opts.pass ?? "" } : {}),
      ...(opts.tlsCa !== undefined ? { tls: { caFile: opts.tlsCa } } : {}),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    return new NatsTransport(nc, opts);
  }

  publish(subject: string, data: Uint8Array, opts?: PublishOptions): void {
    if (this.closed) throw new TransportClosedError(this.kind);
    this.nc.publish(subject, data, opts?.reply ? { reply: opts.reply } : undefined);
  }

  subscribe(subject: string, handler: MsgHandler, opts?: { queue?: string }): Subscription {
    if (this.closed) throw new TransportClosedError(this.kind);
    checkSubject(subject, true);
    const sub = this.nc.subscribe(subject, {
      ...(opts?.queue ? { queue: opts.queue } : {}),
      callback: (err, m) => {
        if (err) return;
        try {
          handler(wrap(m));
        } catch (e) {
          console.error(`nats: handler for ${subject} threw:`, e);
        }
      },
    });
    return { subject, unsubscribe: () => sub.unsubscribe() };
  }

  async request(subject: string, data: Uint8Array, opts?: RequestOptions): Promise<Msg> {
    if (this.closed) throw new TransportClosedError(this.kind);
    const timeoutMs = opts?.timeoutMs ?? 5000;
    try {
      return wrap(await this.nc.request(subject, data, { timeout: timeoutMs }));
    } catch (err) {
      if (err instanceof natsErrors.RequestError && err.isNoResponders()) throw new NoRespondersError(subject, { cause: err });
      if (err instanceof natsErrors.NoRespondersError) throw new NoRespondersError(subject, { cause: err });
      if (err instanceof natsErrors.TimeoutError || (err instanceof Error && err.cause instanceof natsErrors.TimeoutError)) {
        throw new RequestTimeoutError(subject, timeoutMs, { cause: err });
      }
      throw err;
    }
  }

  flush(): Promise<void> {
    return this.nc.flush();
  }

  kv(bucket: string): Promise<KvStore> {
    let b = this.buckets.get(bucket);
    if (!b) {
      b = new Kvm(this.nc)
        .create(bucket, { history: 1, replicas: this.opts.kvReplicas ?? 1 })
        .then((kv) => new NatsKv(kv) as KvStore);
      b.catch(() => this.buckets.delete(bucket));
      this.buckets.set(bucket, b);
    }
    return b;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.nc.drain().catch(() => this.nc.close());
  }
}

/** JetStream KV behind the KvStore interface. */
export class NatsKv implements KvStore {
  constructor(readonly kv: KV) {}

  async get(key: string): Promise<KvEntry | undefined> {
    checkKvKey(key);
    const e = await this.kv.get(key);
    if (!e || e.operation !== "PUT") return undefined;
    return { key: e.key, value: e.value, revision: e.revision, operation: "PUT" };
  }

  put(key: string, value: Uint8Array): Promise<number> {
    checkKvKey(key);
    return this.kv.put(key, value);
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    checkKvKey(key);
    try {
      return await this.kv.create(key, value);
    } catch (err) {
      if (await this.get(key)) throw new KvExistsError(key, { cause: err });
      throw err;
    }
  }

  delete(key: string): Promise<void> {
    checkKvKey(key);
    return this.kv.delete(key);
  }

  async keys(): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys()) out.push(k);
    return out;
  }

  async entries(): Promise<KvEntry[]> {
    // The last value of every key streams in one consumer; `delta` (messages still pending) 0 marks the end.
    if ((await this.kv.status()).values === 0) return [];
    const out: KvEntry[] = [];
    for await (const e of await this.kv.watch({ include: KvWatchInclude.LastValue })) {
      if (e.operation === "PUT") out.push({ key: e.key, value: e.value, revision: e.revision, operation: "PUT" });
      if (!e.delta) break;
    }
    return out;
  }

  async watch(fn: (e: KvEntry) => void): Promise<() => void> {
    const it = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly });
    void (async () => {
      for await (const e of it) {
        fn({ key: e.key, value: e.value, revision: e.revision, operation: e.operation === "PUT" ? "PUT" : "DEL" });
      }
    })();
    return () => it.stop();
  }
}
