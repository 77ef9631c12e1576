/**
 * `dfly control`: runs the control service (gRPC + /metrics) until SIGTERM.
 * Also the shared bits of the commands that talk to it (`--control`, `--json`,
 * gRPC errors printed as STATUS: details).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ControlClient, DEFAULT_CONTROL_ADDR, GrpcStatus as status, controlConfigFromEnv, main as controlMain, type ServiceError } from "@dfly/control";
import { UsageError, type CliIO, type Command } from "../command.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

export const clientOptions: Options = {
  control: { type: "string" },
  json: { type: "boolean", default: false },
};

export function parseCli(argv: string[], options: Options) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
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

/** Runs `f` with a client of `--control` (or DFLY_CONTROL_ADDR, or 127.0.0.1:50051). */
export async function withControl<T>(addr: string | undefined, f: (c: ControlClient) => Promise<T>): Promise<T> {
  const a = addr ?? process.env.DFLY_CONTROL_ADDR ?? DEFAULT_CONTROL_ADDR;
  if (!/^[^\s:]+:\d{1,5}$/.test(a)) throw new UsageError(`--control ${a}: want HOST:PORT`);
  const c = new ControlClient(a, 5000);
  try {
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
