/**
 * `dfly sysctl [-a] [NAME…]` reads, `dfly sysctl -w NAME=VALUE…` writes the cluster's net.inet knobs
 * through the control's SysctlService (DragonFly's names; core in_sysctl.ts). A write returns once
 * every live CPU applied it; a read shows each CPU whose value differs.
 */
import type { GetSysctlResponse, SysctlRow } from "@dfly/control";
import { UsageError, type Command } from "../command.js";
import { clientOptions, parseCli, printJson, withControl } from "./control.js";

function line(r: SysctlRow): string {
  const diff = r.differing.map((d) => `cpu ${d.cpu}: ${d.value}`).join(", ");
  return `${r.name}: ${r.value}${diff ? ` (differs on ${diff})` : ""}\n`;
}

function unreachable(g: GetSysctlResponse): string {
  return g.unreachableCpus.length > 0 ? `dfly sysctl: cpus ${g.unreachableCpus.join(",")} did not answer\n` : "";
}

const sysctl: Command = {
  path: ["sysctl"],
  summary: "read or write net.inet sysctls on every CPU (a write returns when all applied it)",
  usage: "dfly sysctl [-a] [NAME|PREFIX…] | dfly sysctl -w NAME=VALUE… [--json] [--control HOST:PORT] [--tls-ca FILE] [--token T]",
  async run(argv, io) {
    const { values, positionals } = parseCli(argv, {
      ...clientOptions,
      all: { type: "boolean", short: "a", default: false },
      write: { type: "boolean", short: "w", default: false },
    });
    const assigns = positionals.filter((p) => p.includes("="));
    if (values.write && assigns.length !== positionals.length) throw new UsageError(`-w wants NAME=VALUE, got "${positionals.find((p) => !p.includes("="))}"`);
    if (values.write && assigns.length === 0) throw new UsageError("-w wants at least one NAME=VALUE");
    if (assigns.length > 0 && assigns.length !== positionals.length) throw new UsageError("give names to read or NAME=VALUE pairs to write, not both");
    if (assigns.length === 0 && positionals.length === 0 && !values.all) throw new UsageError("give -a, NAMEs to read, or -w NAME=VALUE");
    if (assigns.length > 0) {
      const assignments = assigns.map((a) => {
        const i = a.indexOf("=");
        return { name: a.slice(0, i), value: a.slice(i + 1) };
      });
      const r = await withControl(values, async (c) => {
        const before = await c.getSysctl(assignments.map((a) => a.name));
        const set = await c.setSysctl(assignments);
        return { before, set };
      });
      if (values.json) {
        printJson(io, { settings: r.set.settings, appliedCpus: r.set.appliedCpus });
        return 0;
      }
      const old = new Map(r.before.rows.map((x) => [x.name, x.value]));
      for (const s of r.set.settings) io.stdout(`${s.name}: ${old.get(s.name) ?? "?"} -> ${s.value}\n`);
      return 0;
    }
    const g = await withControl(values, (c) => c.getSysctl(values.all ? [] : positionals));
    if (values.json) {
      printJson(io, { rows: g.rows, unreachableCpus: g.unreachableCpus });
      return 0;
    }
    for (const r of g.rows) io.stdout(line(r));
    const u = unreachable(g);
    if (u) io.stderr(u);
    return 0;
  },
};

export const sysctlCommands: Command[] = [sysctl];
