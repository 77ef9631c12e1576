/**
 * `dfly run --tun DEV …`: the embedded stack's ix0 wired to a Linux TUN device, so real Linux
 * programs (curl, ab, nginx) talk to our TCP. Two workloads:
 *
 *   dfly run --tun dfly0 [--workload serve] [--duration D] [--loss P] [--reorder P] [--dup P]
 *            [--spike 400ms@2s] [--tcp ecn=1,eifel=0]
 *   dfly run --tun dfly0 --workload http-short --target 198.18.0.2:8080 [--clients C] [--requests N]
 *
 * Run it under `ip netns exec NS` (the device is born in that namespace and goes with the
 * command). Without --duration, serve runs until SIGINT/SIGTERM.
 */
import { parseRouteAddress } from "@dfly/core";
import { UsageError, type CliIO } from "../command.js";
import { intOpt, parseDuration, parseFlags } from "../flags.js";
import { runServe, runTunClient } from "../embedded/tun.js";

export const tunRunUsage =
  "dfly run --tun DEV [--tun-addr A.B.C.D/LEN] [--workload serve] [--cpus N] [--duration D] [--loss P] [--reorder P] [--dup P]\n" +
  "         [--spike MS@PERIOD] [--tcp SWITCH=0|1[,…]] [--pcap FILE] [--sysctl NAME=VALUE]... [--json]\n" +
  "dfly run --tun DEV --workload http-short --target A.B.C.D:PORT [--clients C] [--requests N] [--path /] [--duration D] [--pcap FILE] [--json]";

function prob(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!/^\d*\.?\d+$/.test(v) || !(x >= 0 && x <= 1)) throw new UsageError(`--${name} ${v}: want a probability 0..1`);
  return x;
}

/** The TCP switches `--tcp` sets (TcpConfig field names). */
const TCP_SWITCHES = ["eifel", "ncr", "rescueSack", "dsack", "earlyRetransmit", "ecn"] as const;
type TcpSwitch = (typeof TCP_SWITCHES)[number];

/** `--tcp ecn=1,eifel=0`: TcpConfig switches on every CPU. */
function tcpSwitches(v: string | undefined): Partial<Record<TcpSwitch, boolean>> | undefined {
  if (v === undefined) return undefined;
  const out: Partial<Record<TcpSwitch, boolean>> = {};
  for (const item of v.split(",")) {
    const m = /^(\w+)=([01])$/.exec(item.trim());
    if (!m || !(TCP_SWITCHES as readonly string[]).includes(m[1])) {
      throw new UsageError(`--tcp ${item}: want SWITCH=0|1 with SWITCH one of ${TCP_SWITCHES.join(", ")}`);
    }
    out[m[1] as TcpSwitch] = m[2] === "1";
  }
  return out;
}

/** `--spike 400ms@2s`: a delay spike of 400 ms every 2 s on the wire out. */
function spikeOpt(v: string | undefined): { spikeMs: number; spikeEveryMs: number } | undefined {
  if (v === undefined) return undefined;
  const [a, b, ...rest] = v.split("@");
  if (b === undefined || rest.length) throw new UsageError(`--spike ${v}: want DURATION@PERIOD, e.g. 400ms@2s`);
  const spikeMs = parseDuration(a);
  const spikeEveryMs = parseDuration(b);
  if (spikeMs >= spikeEveryMs || spikeMs > 60_000) throw new UsageError(`--spike ${v}: the spike must be shorter than its period and at most 60s`);
  return { spikeMs, spikeEveryMs };
}

/** `--sysctl NAME=VALUE` (checked by the control when the stack starts). */
function assignment(a: string): { name: string; value: string } {
  const i = a.indexOf("=");
  if (i <= 0) throw new UsageError(`--sysctl ${a}: want NAME=VALUE`);
  return { name: a.slice(0, i), value: a.slice(i + 1) };
}

/** A promise that resolves on the first SIGINT/SIGTERM (the handlers go once it did, or on `done`). */
function untilSignal(): { stop: Promise<string>; done(): void } {
  let off = () => undefined as void;
  const stop = new Promise<string>((res) => {
    const on = (sig: string) => () => res(sig);
    const i = on("SIGINT");
    const t = on("SIGTERM");
    process.once("SIGINT", i);
    process.once("SIGTERM", t);
    off = () => {
      process.off("SIGINT", i);
      process.off("SIGTERM", t);
    };
  });
  return { stop, done: () => off() };
}

export async function runTunCli(argv: string[], io: CliIO): Promise<number> {
  const v = parseFlags(argv, {
    tun: { type: "string" },
    "tun-addr": { type: "string" },
    workload: { type: "string" },
    cpus: { type: "string" },
    duration: { type: "string" },
    loss: { type: "string" },
    reorder: { type: "string" },
    dup: { type: "string" },
    spike: { type: "string" },
    tcp: { type: "string" },
    pcap: { type: "string" },
    sysctl: { type: "string", multiple: true },
    target: { type: "string" },
    clients: { type: "string" },
    requests: { type: "string" },
    path: { type: "string" },
    json: { type: "boolean", default: false },
  });
  const tun = v.tun!;
  const workload = v.workload ?? "serve";
  const log = (s: string) => io.stderr(`${s}\n`);
  const sig = untilSignal();
  try {
    if (workload === "serve") {
      if (v.target !== undefined) throw new UsageError("--target is for --workload http-short");
      const impair = { loss: prob("loss", v.loss), reorder: prob("reorder", v.reorder), dup: prob("dup", v.dup), ...spikeOpt(v.spike) };
      const tcpConfig = tcpSwitches(v.tcp);
      const r = await runServe({
        cpus: intOpt("cpus", v.cpus, 1, 128) ?? 2,
        tun,
        ...(v["tun-addr"] ? { tunAddr: v["tun-addr"] } : {}),
        ...(v.pcap ? { pcap: v.pcap } : {}),
        ...(impair.loss || impair.reorder || impair.dup || impair.spikeMs ? { impair } : {}),
        ...(tcpConfig ? { tcpConfig } : {}),
        ...(v.sysctl ? { sysctl: v.sysctl.map(assignment) } : {}),
        ...(v.duration !== undefined ? { durationMs: parseDuration(v.duration) } : {}),
        stop: sig.stop,
        log,
      });
      io.stdout(
        v.json
          ? JSON.stringify(r, null, 2) + "\n"
          : `dfly serve: ${r.durationMs} ms; ${Object.entries(r.serve).map(([k, x]) => `${k} ${x}`).join(", ")}; nic drops ${JSON.stringify(r.nic.ix0?.dropped ?? {})}` +
              (r.pcap ? `; pcap ${r.pcap.frames} packets in ${r.pcap.file}` : "") + "\n",
      );
      return 0;
    }
    if (workload !== "http-short") throw new UsageError(`--workload ${workload} with --tun: want serve or http-short`);
    const m = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}):(\d{1,5})$/.exec(v.target ?? "");
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new UsageError(`--target ${v.target ?? "(missing)"}: want A.B.C.D:PORT of a server on the Linux side`);
    const r = await runTunClient({
      tun,
      ...(v["tun-addr"] ? { tunAddr: v["tun-addr"] } : {}),
      target: { addr: parseRouteAddress(m[1]), port: Number(m[2]) },
      clients: intOpt("clients", v.clients, 1, 10_000) ?? 16,
      durationMs: parseDuration(v.duration ?? "3s"),
      ...(v.requests !== undefined ? { requests: intOpt("requests", v.requests, 1, 100_000_000) } : {}),
      ...(v.path ? { path: v.path } : {}),
      ...(v.pcap ? { pcap: v.pcap } : {}),
      stop: sig.stop,
      log,
    });
    io.stdout(
      v.json
        ? JSON.stringify(r, null, 2) + "\n"
        : `dfly run --workload http-short --tun ${r.tun} → ${r.target}: ${r.completed} responses in ${r.durationMs} ms (tps ${r.tps}), errors ${r.errorCount}` +
            (r.errorCount ? ` (${Object.entries(r.errors).map(([k, x]) => `${k}=${x}`).join(" ")})` : "") +
            `, latency p50 ${r.latency.p50Ms} ms p99 ${r.latency.p99Ms} ms\n`,
    );
    return r.errorCount === 0 && r.unfinished === 0 ? 0 : 1;
  } finally {
    sig.done();
  }
}
