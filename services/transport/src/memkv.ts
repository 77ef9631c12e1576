/** The in-memory KvStore of embedded mode, with JetStream KV's semantics (revisions, tombstones, ordered watchers); values are copied. */
import { KvExistsError } from "./errors.js";
import { checkKvKey } from "./subject.js";
import type { KvEntry, KvStore } from "./transport.js";

export class MemKv implements KvStore {
  private readonly store = new Map<string, KvEntry>();
  private readonly watchers = new Set<(e: KvEntry) => void>();
  private seq = 0;

  constructor(readonly bucket = "mem") {}

  async get(key: string): Promise<KvEntry | undefined> {
    checkKvKey(key);
    const e = this.store.get(key);
    return e && e.operation === "PUT" ? { ...e, value: new Uint8Array(e.value) } : undefined;
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    checkKvKey(key);
    return this.write(key, new Uint8Array(value), "PUT");
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    checkKvKey(key);
    if (this.store.get(key)?.operation === "PUT") throw new KvExistsError(key);
    return this.write(key, new Uint8Array(value), "PUT");
  }

  async delete(key: string): Promise<void> {
    checkKvKey(key);
    this.write(key, new Uint8Array(0), "DEL");
  }

  async keys(): Promise<string[]> {
    return [...this.store.values()].filter((e) => e.operation === "PUT").map((e) => e.key);
  }

  async entries(): Promise<KvEntry[]> {
    return [...this.store.values()].filter((e) => e.operation === "PUT").map((e) => ({ ...e, value: new Uint8Array(e.value) }));
  }

  async watch(fn: (e: KvEntry) => void): Promise<() => void> {
    this.watchers.add(fn);
    return () => void this.watchers.delete(fn);
  }

  private write(key: string, value: Uint8Array, operation: "PUT" | "DEL"): number {
    const e: KvEntry = { key, value, revision: ++this.seq, operation };
    this.store.set(key, e);
    // Asynchronous like a JetStream watch, in revision order.
    const ws = [...this.watchers];
    if (ws.length > 0) queueMicrotask(() => ws.forEach((w) => this.watchers.has(w) && w({ ...e, value: new Uint8Array(value) })));
    return e.revision;
  }
}
