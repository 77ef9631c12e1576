/** One error class per failure (STYLE.md §7). */

/** No reply to `request()` within the timeout. */
export class RequestTimeoutError extends Error {
  override readonly name = "RequestTimeoutError";
  constructor(
    readonly subject: string,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`request to ${subject}: no reply within ${timeoutMs} ms`, options);
  }
}

/** `request()` to a subject nobody is subscribed to. */
export class NoRespondersError extends Error {
  override readonly name = "NoRespondersError";
  constructor(
    readonly subject: string,
    options?: { cause?: unknown },
  ) {
    super(`request to ${subject}: no responders`, options);
  }
}

/** Use of a transport after `close()`. */
export class TransportClosedError extends Error {
  override readonly name = "TransportClosedError";
  constructor(readonly kind: string) {
    super(`${kind} transport is closed`);
  }
}

/** A subject or pattern that NATS would refuse (empty token, whitespace, `>` not last). */
export class BadSubjectError extends Error {
  override readonly name = "BadSubjectError";
  constructor(readonly subject: string) {
    super(`bad subject "${subject}"`);
  }
}

/** `KvStore.create()` of a key that already has a live value. */
export class KvExistsError extends Error {
  override readonly name = "KvExistsError";
  constructor(
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(`kv key "${key}" already exists`, options);
  }
}

/** A key that is not valid in a NATS KV bucket. */
export class KvBadKeyError extends Error {
  override readonly name = "KvBadKeyError";
  constructor(readonly key: string) {
    super(`bad kv key "${key}" (allowed: [-/_=.a-zA-Z0-9], no leading/trailing ".")`);
  }
}
