/**
 * `dfly control`: runs the control service (gRPC + /metrics) until SIGTERM.
 * Also the shared bits of the commands that talk to it (`--control`, `--json`,
 * gRPC errors printed as STATUS: details).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ControlClient, DEFAULT_CONTROL_ADDR, controlClientAuthFromEnv, type ControlClientAuth, GrpcConnectivityState as connectivityState, GrpcStatus as status, controlConfigFromEnv, main as controlMain, type ServiceError } from "@dfly/control";
import { UsageError, type CliIO, type Command } from "../command.js";
import { readFileSync } from "node:fs";
import { contextFile, readContext } from "../local/context.js";
import { secureClient } from "../local/secure.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

export const clientOptions: Options = {
  control: { type: "string" },
  "tls-ca": { type: "string" },
  token: { type: "string" },
  json: { type: "boolean", default: false },
};

export function parseCli(argv: string[], options: Options) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** parseCli for a command that takes flags only: any positional is a usage error. */
export function parseFlags(argv: string[], options: Options) {
  const p = parseCli(argv, options);
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument "${p.positionals[0]}"`);
  return p;
}

/** A failed control call, printed as `STATUS: details` (exit 1). */
export class ControlCallError extends Error {
  override readonly name = "ControlCallError";
  constructor(
    readonly code: number,
    readonly details: string,
    readonly addr: string,
  ) {
    super(`${status[code] ?? code}: ${details}${code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED ? ` (control ${addr})` : ""}`);
  }
}

/** How long a control command waits for its control's connection before it says it cannot reach it. */
export const CONNECT_TIMEOUT_MS = 1500;

/** The control a command talks to, and where that address came from (named when it cannot be reached). */
export function controlAddrOf(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): { addr: string; from: string } {
  if (flag !== undefined) return { addr: flag, from: "--control" };
  if (env.DFLY_CONTROL_ADDR) return { addr: env.DFLY_CONTROL_ADDR, from: "DFLY_CONTROL_ADDR" };
  const ctx = readContext(env);
  if (ctx) return { addr: ctx.controlAddr, from: `context ${contextFile(env)}` };
  return { addr: DEFAULT_CONTROL_ADDR, from: "the default; no dfly up context" };
}

/** The control cannot be reached: one line naming the address tried (exit 1). */
export class ControlUnreachableError extends Error {
  override readonly name = "ControlUnreachableError";
}

/** Resolves once the client's channel is READY; rejects at the first TRANSIENT_FAILURE (refused) or after CONNECT_TIMEOUT_MS. */
export function connected(c: ControlClient, addr: string, from: string): Promise<void> {
  const ch = c.route.getChannel();
  const end = Date.now() + CONNECT_TIMEOUT_MS;
  const fail = (code: string, why: string) => new ControlUnreachableError(`${code}: cannot reach the control ${addr} (${from})${why}; is it up? (dfly up, or --control HOST:PORT)`);
  return new Promise((res, rej) => {
    const step = () => {
      const st = ch.getConnectivityState(true);
      if (st === connectivityState.READY) return res();
      if (st === connectivityState.TRANSIENT_FAILURE || st === connectivityState.SHUTDOWN) return rej(fail("UNAVAILABLE", ": connection refused or failed"));
      ch.watchConnectivityState(st, end, (err) => (err ? rej(fail("DEADLINE_EXCEEDED", ` within ${CONNECT_TIMEOUT_MS / 1000} s`)) : step()));
    };
    step();
  });
}

/** The control flags of a command (`--control`, `--tls-ca`, `--token`). */
export interface ControlFlags {
  control?: unknown;
  "tls-ca"?: unknown;
  token?: unknown;
}

/** What the client presents: --tls-ca/--token, else DFLY_CONTROL_TLS_CA/DFLY_CONTROL_TOKEN, else the `dfly up --secure` context's. */
export function controlAuthOf(f: ControlFlags, env: NodeJS.ProcessEnv = process.env): ControlClientAuth {
  const fromEnv = controlClientAuthFromEnv(env);
  const ctx = f.control === undefined && !env.DFLY_CONTROL_ADDR ? readContext(env) : undefined;
  const sec = ctx?.secureDir && (f["tls-ca"] === undefined || f.token === undefined) && !fromEnv.token ? secureClient(ctx.secureDir) : undefined;
  let ca = fromEnv.ca ?? sec?.ca;
  if (typeof f["tls-ca"] === "string") {
    try {
      ca = readFileSync(f["tls-ca"]);
    } catch (e) {
      throw new UsageError(`--tls-ca ${f["tls-ca"]}: ${(e as Error).message}`);
    }
  }
  const token = typeof f.token === "string" ? f.token : (fromEnv.token ?? sec?.token);
  return { ...fromEnv, ...(ca ? { ca } : {}), ...(token ? { token } : {}) };
}

/**
 * Runs `f` with a client of `--control` (else DFLY_CONTROL_ADDR, else the `dfly up` context, else
 * 127.0.0.1:50051). The connection must be up within CONNECT_TIMEOUT_MS, else ControlUnreachableError.
 */
export async function withControl<T>(flags: string | undefined | ControlFlags, f: (c: ControlClient) => Promise<T>): Promise<T> {
  const fl: ControlFlags = typeof flags === "object" ? flags : { control: flags };
  const { addr: a, from } = controlAddrOf(typeof fl.control === "string" ? fl.control : undefined);
  if (!/^[^\s:]+:\d{1,5}$/.test(a)) throw new UsageError(`--control ${a}: want HOST:PORT (from ${from})`);
  const c = new ControlClient(a, 5000, controlAuthOf(fl));
  try {
    await connected(c, a, from);
    return await f(c);
  } catch (err) {
    const e = err as ServiceError;
    if (typeof e?.code === "number" && typeof e.details === "string") throw new ControlCallError(e.code, e.details, a);
    throw err;
  } finally {
    c.close();
  }
}

export function printJson(io: CliIO, v: unknown): void {
  io.stdout(JSON.stringify(v, null, 2) + "\n");
}

const controlCommand: Command = {
  path: ["control"],
  summary: "run the control service (gRPC routes/cluster/stats, /metrics) until SIGTERM",
  usage:
    "dfly control [--grpc-port N] [--metrics-port N] [--nats URL] [--cluster NAME] [--heartbeat-ms N] [--cpu-timeout-ms N]\n" +
    "  env: DFLY_GRPC_PORT (50051), DFLY_METRICS_PORT (9463), DFLY_NATS_URL (absent: in-process), DFLY_CLUSTER (dfly)",
  async run(argv, io) {
    const { values, positionals } = parseCli(argv, {
      "grpc-port": { type: "string" },
      "metrics-port": { type: "string" },
      nats: { type: "string" },
      cluster: { type: "string" },
      "heartbeat-ms": { type: "string" },
      "cpu-timeout-ms": { type: "string" },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const env = { ...process.env };
    const set = (k: string, v: unknown) => {
      if (typeof v === "string") env[k] = v;
    };
    set("DFLY_GRPC_PORT", values["grpc-port"]);
    set("DFLY_METRICS_PORT", values["metrics-port"]);
    set("DFLY_NATS_URL", values.nats);
    set("DFLY_CLUSTER", values.cluster);
    set("DFLY_HEARTBEAT_MS", values["heartbeat-ms"]);
    set("DFLY_CPU_TIMEOUT_MS", values["cpu-timeout-ms"]);
    let cfg;
    try {
      cfg = controlConfigFromEnv(env);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    await controlMain(cfg, (s) => io.stderr(s + "\n"));
    return 0;
  },
};

export const controlCommands: Command[] = [controlCommand];
