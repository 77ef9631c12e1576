/** Who may call the control: TLS (mTLS optional) from PEM files, and a bearer token that mutating calls (and reads, unless opened) must carry; a verified client certificate counts as well. */
import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { Metadata, ServerCredentials, credentials, status, type ChannelCredentials, type ServerUnaryCall, type ServerWritableStream } from "@grpc/grpc-js";

export interface ControlTls {
  cert: Buffer;
  key: Buffer;
  /** Client CA: with it, every client must present a certificate it signed (mTLS). */
  clientCa?: Buffer;
}

export interface ControlAuth {
  tls?: ControlTls;
  /** Bearer token the mutating calls need (`authorization: Bearer <token>`). */
  token?: string;
  /** Reads (List, Get, Watch, Verify, Stats) without a token. */
  openReads?: boolean;
}

/** The RPCs that change the cluster; all others only read. */
export const MUTATING_RPCS: ReadonlySet<string> = new Set([
  "addRoute",
  "deleteRoute",
  "loadRoutes",
  "register",
  "heartbeat",
  "deregister",
  "registerInterface",
  "listen",
  "closeListener",
  "addRules",
  "deleteRules",
  "flush",
  "tableAdd",
  "tableDelete",
  "setSysctl",
]);

/** A security file that cannot be read (a clear line, not a stack). */
export class ControlAuthConfigError extends Error {
  override readonly name = "ControlAuthConfigError";
  constructor(
    readonly variable: string,
    readonly path: string,
    cause: unknown,
  ) {
    super(`${variable}=${path}: ${(cause as Error).message}`, { cause });
  }
}

function file(env: NodeJS.ProcessEnv, name: string): Buffer | undefined {
  const p = env[name];
  if (!p) return undefined;
  try {
    return readFileSync(p);
  } catch (err) {
    throw new ControlAuthConfigError(name, p, err);
  }
}

/** A token given inline or as a file (a mounted Secret); trailing whitespace dropped. */
function token(env: NodeJS.ProcessEnv): string | undefined {
  const t = env.DFLY_CONTROL_TOKEN || file(env, "DFLY_CONTROL_TOKEN_FILE")?.toString("utf8");
  return t ? t.trim() : undefined;
}

/**
 * The server's settings: DFLY_CONTROL_TLS_CERT / _KEY (PEM files; TLS on), DFLY_CONTROL_TLS_CLIENT_CA (mTLS),
 * DFLY_CONTROL_TOKEN or DFLY_CONTROL_TOKEN_FILE, DFLY_CONTROL_OPEN_READS=1.
 */
export function controlAuthFromEnv(env: NodeJS.ProcessEnv = process.env): ControlAuth {
  const cert = file(env, "DFLY_CONTROL_TLS_CERT");
  const key = file(env, "DFLY_CONTROL_TLS_KEY");
  const clientCa = file(env, "DFLY_CONTROL_TLS_CLIENT_CA");
  const t = token(env);
  return {
    ...(cert && key ? { tls: { cert, key, ...(clientCa ? { clientCa } : {}) } } : {}),
    ...(t ? { token: t } : {}),
    ...(env.DFLY_CONTROL_OPEN_READS === "1" || env.DFLY_CONTROL_OPEN_READS === "true" ? { openReads: true } : {}),
  };
}

export function serverCredentialsOf(a: ControlAuth): ServerCredentials {
  if (!a.tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(a.tls.clientCa ?? null, [{ private_key: a.tls.key, cert_chain: a.tls.cert }], a.tls.clientCa !== undefined);
}

function tokenOk(md: Metadata, want: string): boolean {
  const got = md.get("authorization")[0];
  if (typeof got !== "string" || !got.startsWith("Bearer ")) return false;
  const a = Buffer.from(got.slice(7));
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether a call may run: no token configured (open), the token, or a client certificate the server verified (mTLS). */
function allowed(a: ControlAuth, rpc: string, call: { metadata: Metadata; getAuthContext?: () => { sslPeerCertificate?: unknown } }): boolean {
  if (a.token === undefined) return true;
  if (a.openReads && !MUTATING_RPCS.has(rpc)) return true;
  if (tokenOk(call.metadata, a.token)) return true;
  return a.tls?.clientCa !== undefined && call.getAuthContext?.().sslPeerCertificate !== undefined;
}

const DENIED = { code: status.UNAUTHENTICATED, details: "this call needs a control token (DFLY_CONTROL_TOKEN, --token) or a client certificate" };

/** Wraps every handler of one service implementation with the check (unary: callback; server stream: ends with the status). */
export function guardService<T extends object>(impl: T, a: ControlAuth): T {
  if (a.token === undefined) return impl;
  const out: Record<string, unknown> = {};
  for (const [rpc, h] of Object.entries(impl) as [string, (...args: unknown[]) => void][]) {
    out[rpc] = (call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>, cb?: (e: unknown) => void) => {
      if (allowed(a, rpc, call)) return h(call, cb);
      if (cb) cb(DENIED);
      else (call as ServerWritableStream<unknown, unknown>).emit("error", DENIED);
    };
  }
  return out as T;
}

/** What a client presents: DFLY_CONTROL_TLS_CA (trust; TLS on), DFLY_CONTROL_TLS_CLIENT_CERT / _KEY (mTLS), DFLY_CONTROL_TOKEN(_FILE). */
export interface ControlClientAuth {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
}

export function controlClientAuthFromEnv(env: NodeJS.ProcessEnv = process.env): ControlClientAuth {
  const ca = file(env, "DFLY_CONTROL_TLS_CA");
  const cert = file(env, "DFLY_CONTROL_TLS_CLIENT_CERT");
  const key = file(env, "DFLY_CONTROL_TLS_CLIENT_KEY");
  const t = token(env);
  return { ...(ca ? { ca } : {}), ...(cert && key ? { cert, key } : {}), ...(t ? { token: t } : {}) };
}

export function channelCredentialsOf(a: ControlClientAuth): ChannelCredentials {
  if (!a.ca) return credentials.createInsecure();
  return credentials.createSsl(a.ca, a.key ?? null, a.cert ?? null);
}

/** Call metadata carrying the token (also over plain loopback, where call credentials cannot be composed). */
export function authMetadata(a: ControlClientAuth, opts?: ConstructorParameters<typeof Metadata>[0]): Metadata {
  const md = new Metadata(opts);
  if (a.token) md.set("authorization", `Bearer ${a.token}`);
  return md;
}
