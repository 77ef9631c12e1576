/**
 * `dfly netstat -s [--per-cpu]`: protocol statistics, per CPU on the CPUs,
 * summed when read (the control fetches every CPU's counters over its port).
 */
import type { ProtocolStats } from "@dfly/control";
import { UsageError, type Command } from "../command.js";
import { clientOptions, parseFlags, printJson, withControl } from "./control.js";

export function formatProtocols(ps: readonly ProtocolStats[], indent = ""): string {
  let out = "";
  for (const p of ps) {
    out += `${indent}${p.protocol}:\n`;
    for (const k of Object.keys(p.counters).sort()) out += `${indent}\t${p.counters[k]} ${k}\n`;
  }
  return out;
}

const counters = (ps: readonly ProtocolStats[]) => Object.fromEntries(ps.map((p) => [p.protocol, p.counters]));

const netstat: Command = {
  path: ["netstat"],
  summary: "netstat -s: protocol statistics summed over the CPUs (--per-cpu: each CPU's)",
  usage: "dfly netstat -s [--per-cpu] [--json] [--control HOST:PORT] [--tls-ca FILE] [--token T]",
  async run(argv, io) {
    const { values } = parseFlags(argv, { ...clientOptions, s: { type: "boolean", short: "s", default: false }, "per-cpu": { type: "boolean", default: false } });
    if (!values.s) throw new UsageError("only -s (statistics) is supported here");
    const s = await withControl(values, (c) => c.getStats());
    const perCpu = values["per-cpu"] === true;
    if (values.json) {
      printJson(io, {
        total: counters(s.total),
        ...(perCpu ? { cpus: s.cpus.map((c) => ({ cpu: c.cpu, ...counters(c.protocols) })) } : {}),
        unreachableCpus: s.unreachableCpus,
      });
    } else if (perCpu) {
      for (const c of [...s.cpus].sort((a, b) => a.cpu - b.cpu)) io.stdout(`cpu ${c.cpu}:\n` + formatProtocols(c.protocols, "  "));
    } else io.stdout(formatProtocols(s.total));
    if (s.unreachableCpus.length > 0) io.stderr(`dfly netstat: cpus ${s.unreachableCpus.join(",")} did not answer (not counted)\n`);
    return 0;
  },
};

export const netstatCommands: Command[] = [netstat];
