/**
 * The bus between the parts (DESIGN.md §3). Packet and protocol logic sees only
 * these interfaces; `nats.ts` and `inproc.ts` implement them, and a factory picks
 * one from configuration (STYLE.md §2: transport behind an interface with an
 * injected factory). Semantics are NATS core semantics in both implementations.
 */

/** A delivered message: the subject it was published on and its bytes. */
export interface Msg {
  readonly subject: string;
  /**
   * The payload. The receiver owns it: it may modify it in place and publish it
   * on (e.g. with `{ transfer: true }`), but must not keep it past that.
   */
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
  /**
   * The caller gives `data`'s whole ArrayBuffer away: the in-process transport
   * moves it to another thread without copying (the buffer is detached here
   * afterwards). NATS ignores it (the bytes are written to the socket at once).
   * Use a fresh buffer per published batch when you set it.
   */
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
  /**
   * Subscribe to an exact subject or a NATS-style pattern (`*` one token, `>` the rest).
   * With `queue`, each message goes to one member of the queue group.
   */
  subscribe(subject: string, handler: MsgHandler, opts?: { queue?: string }): Subscription;
  /**
   * Publishes with a fresh reply subject and resolves with the first reply.
   * Rejects with `NoRespondersError` when nobody is subscribed to `subject`
   * and `RequestTimeoutError` when no reply came in time.
   */
  request(subject: string, data: Uint8Array, opts?: RequestOptions): Promise<Msg>;
  /**
   * Resolves when everything published and subscribed so far has reached the
   * server/peers (after it, a peer's publish sees this side's subscriptions).
   */
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

/**
 * Replicated state (routes, listeners, topology): JetStream KV in NATS mode, an
 * in-memory map with the same semantics in embedded mode. Keys: NATS KV key
 * characters (`[-/_=.a-zA-Z0-9]+`, no leading/trailing `.`); see `kvKey()`.
 */
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
  /** Calls `fn` for every later change until the returned function is called. */
  watch(fn: (e: KvEntry) => void): Promise<() => void>;
}
