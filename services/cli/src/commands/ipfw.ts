/**
 * `dfly ipfw add | delete | show | flush | verify | table`: the replicated firewall rule set through the control's
 * IpfwService (DragonFly's ipfw3 syntax, a subset: README "Firewall"). A change returns once every live CPU installed it.
 */
import { readFileSync } from "node:fs";
import { IpfwClient, type IpfwListResponse } from "@dfly/control";
import { UsageError, type CliIO, type Command } from "../command.js";
import { clientOptions, parseCli, parseFlags, printJson, withControl, type ControlFlags } from "./control.js";

function withIpfw<T>(flags: ControlFlags, f: (c: IpfwClient) => Promise<T>): Promise<T> {
  return withControl(flags, async (cc) => {
    const c = new IpfwClient(cc.addr, 5000, cc.auth);
    try {
      return await f(c);
    } finally {
      c.close();
    }
  });
}

function changed(io: CliIO, json: boolean, op: string, r: { revision: number; digest: string; appliedCpus: number[]; rules: string[] }): number {
  if (json) printJson(io, { op, ...r });
  else {
    for (const t of r.rules) io.stdout(`${t}\n`);
    io.stdout(`ipfw ${op}: revision ${r.revision}, digest ${r.digest} (applied on cpus ${r.appliedCpus.join(",") || "none"})\n`);
  }
  return 0;
}

export function formatIpfwShow(l: IpfwListResponse): string {
  const rows = l.rules.map((r) => `${String(r.number).padStart(5, "0")} ${String(r.packets).padStart(12)} ${String(r.bytes).padStart(14)} ${r.rule.replace(/^\d+ /, "")}`);
  const tables = l.tables.map((t) => `table ${t.name}: ${t.prefixes.join(" ") || "(empty)"}`);
  const cpus = l.cpus.map((c) => `cpu ${c.cpu}: ${c.states} states, ${c.created} created, ${c.expired} expired, ${c.crossCpuLookups} cross-CPU lookups`);
  const un = l.unreachableCpus.length > 0 ? [`cpus not answering: ${l.unreachableCpus.join(",")}`] : [];
  return [`revision ${l.revision}, digest ${l.digest}`, ...rows, ...tables, ...cpus, ...un].join("\n") + "\n";
}

const add: Command = {
  path: ["ipfw", "add"],
  summary: "add a firewall rule on every CPU (returns when all installed it)",
  usage:
    "dfly ipfw add [NUM] ACTION PROTO from SRC [PORTS] to DST [PORTS] [OPTIONS] [--json] [--control HOST:PORT]\n" +
    "dfly ipfw add --file FILE   (one rule per line, # comments; all or none)\n" +
    "  ACTION allow|deny|reset|count|skipto N|check-state; PROTO ip|tcp|udp|icmp|N; SRC/DST any|me|A.B.C.D[/L]|table(NAME)\n" +
    "  OPTIONS in|out, recv|xmit|via IF, setup, established, tcpflags syn,!ack, keep-state, limit src-addr N",
  async run(argv, io) {
    const { values, positionals } = parseCli(argv, { ...clientOptions, file: { type: "string" } });
    let rules: string[];
    if (values.file !== undefined) {
      if (positionals.length > 0) throw new UsageError("give a rule or --file, not both");
      rules = readFileSync(String(values.file), "utf8")
        .split("\n")
        .map((l) => l.replace(/#.*/, "").trim())
        .filter((l) => l !== "");
    } else rules = [positionals.join(" ")];
    if (rules.length === 0 || rules[0] === "") throw new UsageError("missing RULE");
    const r = await withIpfw(values, (c) => c.add(rules));
    return changed(io, values.json === true, "add", r);
  },
};

const del: Command = {
  path: ["ipfw", "delete"],
  summary: "delete firewall rules by number on every CPU",
  usage: "dfly ipfw delete NUM... [--json] [--control HOST:PORT]",
  async run(argv, io) {
    const { values, positionals } = parseCli(argv, clientOptions);
    if (positionals.length === 0) throw new UsageError("missing NUM");
    const nums = positionals.map((p) => {
      if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65534) throw new UsageError(`rule number "${p}": want 1..65534`);
      return Number(p);
    });
    const r = await withIpfw(values, (c) => c.delete(nums));
    return changed(io, values.json === true, "delete", r);
  },
};

const flush: Command = {
  path: ["ipfw", "flush"],
  summary: "remove every firewall rule, table and state",
  usage: "dfly ipfw flush [--json] [--control HOST:PORT]",
  async run(argv, io) {
    const { values } = parseFlags(argv, clientOptions);
    const r = await withIpfw(values, (c) => c.flush());
    return changed(io, values.json === true, "flush", r);
  },
};

const show: Command = {
  path: ["ipfw", "show"],
  summary: "the rule set with each rule's packets and bytes summed over the CPUs, and each CPU's states",
  usage: "dfly ipfw show [--json] [--control HOST:PORT]",
  async run(argv, io) {
    const { values } = parseFlags(argv, clientOptions);
    const l = await withIpfw(values, (c) => c.list(true));
    if (values.json) printJson(io, l);
    else io.stdout(formatIpfwShow(l));
    return 0;
  },
};

const verify: Command = {
  path: ["ipfw", "verify"],
  summary: "each CPU's rule-set digest against the control's (exit 1 if any differs)",
  usage: "dfly ipfw verify [--json] [--control HOST:PORT]",
  async run(argv, io) {
    const { values } = parseFlags(argv, clientOptions);
    const v = await withIpfw(values, (c) => c.verify());
    if (values.json) printJson(io, v);
    else {
      io.stdout(`expected ${v.expectedDigest} (revision ${v.revision})\n`);
      for (const c of v.cpus) io.stdout(`cpu ${c.cpu}: ${c.digest || "-"} revision ${c.revision} ${c.match ? "yes" : `NO${c.error ? ` (${c.error})` : ""}`}\n`);
      io.stdout(v.consistent ? `all ${v.cpus.length} CPUs agree\n` : `CPUs differ\n`);
    }
    return v.consistent ? 0 : 1;
  },
};

const table: Command = {
  path: ["ipfw", "table"],
  summary: "add prefixes to a table, or delete them (no prefix: the table)",
  usage: "dfly ipfw table NAME add|delete [PREFIX...] [--json] [--control HOST:PORT]",
  async run(argv, io) {
    const { values, positionals } = parseCli(argv, clientOptions);
    const [name, op, ...prefixes] = positionals;
    if (!name || (op !== "add" && op !== "delete")) throw new UsageError("want NAME add|delete [PREFIX...]");
    if (op === "add" && prefixes.length === 0) throw new UsageError("missing PREFIX");
    const r = await withIpfw(values, (c) => (op === "add" ? c.tableAdd(name, prefixes) : c.tableDelete(name, prefixes)));
    return changed(io, values.json === true, `table ${name} ${op}`, r);
  },
};

export const ipfwCommands: Command[] = [add, del, flush, show, table, verify];
