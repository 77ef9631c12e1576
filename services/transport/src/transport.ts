/**
 * The bus between the parts (DESIGN.md §3). Packet and protocol logic sees only
 * these interfaces; `nats.ts` and `inproc.ts` implement them, and a factory picks
 * one from configuration (STYLE.md §2: transport behind an interface with an
 * injected factory).
 */

/** A delivered message: the subject it was published on and its bytes. */
export interface Msg {
  readonly subject: string;
  readonly data: Uint8Array;
}

export type MsgHandler = (msg: Msg) => void;

export interface Subscription {
  readonly subject: string;
  unsubscribe(): void;
}

export interface Transport {
  /** Fire-and-forget publish (no per-message round trip on the hot path). */
  publish(subject: string, data: Uint8Array): void;
  /**
   * Subscribe to an exact subject or a NATS-style pattern (`*` one token, `>` the rest).
   * With `queue`, each message goes to one member of the queue group.
   */
  subscribe(subject: string, handler: MsgHandler, opts?: { queue?: string }): Subscription;
  /** Resolves when everything published so far has reached the server/peers. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** One entry of a replicated key/value bucket (JetStream KV in NATS mode). */
export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: number;
  readonly operation: "PUT" | "DEL";
}

/**
 * Replicated state (routes, listeners, topology): JetStream KV in NATS mode, an
 * in-memory map with the same semantics in embedded mode.
 */
export interface KvStore {
  get(key: string): Promise<KvEntry | undefined>;
  put(key: string, value: Uint8Array): Promise<number>;
  delete(key: string): Promise<void>;
  keys(): Promise<string[]>;
  /** Calls `fn` for every later change until the returned function is called. */
  watch(fn: (e: KvEntry) => void): Promise<() => void>;
}
