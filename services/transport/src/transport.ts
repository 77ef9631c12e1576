/** The bus between the parts (DESIGN.md §3), with NATS core semantics: implemented by `nats.ts` and `inproc.ts`, picked by factory.ts. */

/** A delivered message: the subject it was published on and its bytes. */
export interface Msg {
  readonly subject: string;
  /** The payload, owned by the receiver: it may rewrite and republish it, but not keep it past that. */
  readonly data: Uint8Array;
  /** The reply subject of a request (`undefined` for a plain publish). */
  readonly reply?: string;
  /** Publishes `data` to `reply`. Returns false (and sends nothing) when there is no reply subject. */
  respond(data: Uint8Array): boolean;
}

export type MsgHandler = (msg: Msg) => void;

export interface Subscription {
  readonly subject: string;
  unsubscribe(): void;
}

export interface PublishOptions {
  /** Reply subject the receivers should answer to. */
  reply?: string;
  /** Gives `data`'s whole ArrayBuffer away (inproc moves it without a copy, detaching it here; NATS ignores it): use a fresh buffer. */
  transfer?: boolean;
}

export interface RequestOptions {
  /** Rejects with `RequestTimeoutError` after this long (default 5000). */
  timeoutMs?: number;
}

export interface Transport {
  /** Which implementation: `"inproc"` or `"nats"`. */
  readonly kind: "inproc" | "nats";
  /** Fire-and-forget publish (no per-message round trip on the hot path). */
  publish(subject: string, data: Uint8Array, opts?: PublishOptions): void;
  /** Subscribe to a subject or pattern; with `queue`, each message goes to one member of the group. */
  subscribe(subject: string, handler: MsgHandler, opts?: { queue?: string }): Subscription;
  /** Resolves with the first reply; rejects with `NoRespondersError` or `RequestTimeoutError`. */
  request(subject: string, data: Uint8Array, opts?: RequestOptions): Promise<Msg>;
  /** Resolves once everything published and subscribed so far has reached the server/peers. */
  flush(): Promise<void>;
  /** A replicated key/value bucket (JetStream KV in NATS mode, in-memory otherwise). */
  kv(bucket: string): Promise<KvStore>;
  close(): Promise<void>;
}

/** One entry of a replicated key/value bucket (JetStream KV in NATS mode). */
export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  /** Bucket-wide, strictly increasing across all keys (JetStream stream sequence). */
  readonly revision: number;
  readonly operation: "PUT" | "DEL";
}

/** Replicated state (routes, listeners, topology): JetStream KV, or an in-memory equivalent; keys as `kvKey()` makes them. */
export interface KvStore {
  /** The live value of `key`, or undefined when absent or deleted. */
  get(key: string): Promise<KvEntry | undefined>;
  /** Writes `value`; resolves with the new revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /** Writes only when `key` is absent (or deleted); else rejects with `KvExistsError`. */
  create(key: string, value: Uint8Array): Promise<number>;
  /** Deletes `key` (a tombstone with its own revision). Deleting an absent key is not an error. */
  delete(key: string): Promise<void>;
  /** Live keys (deleted ones excluded). */
  keys(): Promise<string[]>;
  /** Every live entry in one pass (a watch of the last values, not a get per key): how a restarted owner reads its state. */
  entries(): Promise<KvEntry[]>;
  /** Calls `fn` for every later change until the returned function is called. */
  watch(fn: (e: KvEntry) => void): Promise<() => void>;
}
