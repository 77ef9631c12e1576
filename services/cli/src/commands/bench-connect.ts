/**
 * `dfly bench connect`: programs on every netisr CPU connect M times in all to listeners on the
 * wire and keep the connections; the logic is in ../bench/connect.ts. Prints JSON with --json.
 */
import { UsageError, type CliIO, type Command } from "../command.js";
import { benchConnect, type BenchConnectResult } from "../bench/connect.js";
import { intOpt, parseFlags } from "../flags.js";

function text(r: BenchConnectResult): string {
  return (
    `dfly bench connect — ${r.cpus} CPU(s), ${r.transport}, ${r.connections} connections to ports ${r.listenerPorts.join(",")}\n` +
    `connects ${r.connects}, errors ${r.errors}, duplicate 4-tuples ${r.duplicateTuples}, migrated ${r.migrated}, ${r.cps} connects/s (${r.ms} ms)\n` +
    `held on another CPU, per program CPU: ${r.remotePerCpu.join(" ")}; accepted by the listening host: ${r.accepted}\n` +
    (r.why.length ? `errors: ${r.why.join("; ")}\n` : "")
  );
}

export const benchConnectCommand: Command = {
  path: ["bench", "connect"],
  summary: "connects from programs on every CPU, kept open: errors, duplicate 4-tuples, migrations, connects/s (JSON with --json)",
  usage:
    "dfly bench connect [--cpus N] [--connections M] [--transport embedded|nats] [--nats URL] [--window K] [--json]\n" +
    "  defaults: 6 CPUs, 20000 connections, embedded, 64 connects in flight per CPU;\n" +
    "  --transport nats starts a local nats-server unless --nats URL is given",
  async run(argv: string[], io: CliIO): Promise<number> {
    const v = parseFlags(argv, {
      cpus: { type: "string" },
      connections: { type: "string" },
      transport: { type: "string" },
      nats: { type: "string" },
      window: { type: "string" },
      json: { type: "boolean", default: false },
    });
    const transport = v.transport ?? (v.nats ? "nats" : "embedded");
    if (transport !== "embedded" && transport !== "nats") throw new UsageError(`--transport ${transport}: want embedded or nats`);
    if (v.nats !== undefined && !/^nats:\/\/[^\s/]+:\d{1,5}$/.test(v.nats)) throw new UsageError(`--nats ${v.nats}: want nats://HOST:PORT`);
    const r = await benchConnect({
      cpus: intOpt("cpus", v.cpus, 1, 64) ?? 6,
      connections: intOpt("connections", v.connections, 1, 200_000) ?? 20_000,
      transport,
      ...(v.nats ? { natsUrl: v.nats } : {}),
      ...(v.window ? { window: intOpt("window", v.window, 1, 4096) } : {}),
      log: (s) => io.stderr(s + "\n"),
    });
    io.stdout(v.json ? JSON.stringify(r, null, 2) + "\n" : text(r));
    return r.errors === 0 && r.duplicateTuples === 0 ? 0 : 1;
  },
};

export const benchConnectCommands: Command[] = [benchConnectCommand];
