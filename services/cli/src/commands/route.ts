/**
 * `dfly route add | delete | show | verify`: the replicated route table through
 * the control's RouteService. A change returns once every live CPU applied it.
 */
import type { RouteMessage } from "@dfly/control";
import { UsageError, type Command } from "../command.js";
import { clientOptions, parseCli, printJson, withControl } from "./control.js";

function uint(name: string, v: unknown, max: number): number {
  if (v === undefined) return 0;
  const s = String(v);
  if (!/^\d+$/.test(s) || Number(s) > max) throw new UsageError(`--${name} ${s}: want an integer 0..${max}`);
  return Number(s);
}

const dash = (v: string | number) => (v === "" || v === 0 ? "-" : String(v));

export function formatRoutes(routes: readonly RouteMessage[]): string {
  const rows = [["Destination", "Gateway", "Interface", "Metric", "MTU", "IW"], ...routes.map((r) => [r.prefix, dash(r.gateway), dash(r.ifname), String(r.metric), dash(r.mtu), dash(r.iw)])];
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i] + 2))).join("")).join("\n") + "\n";
}

const add: Command = {
  path: ["route", "add"],
  summary: "add a route on every CPU (returns when all applied it)",
  usage: "dfly route add PREFIX GATEWAY|-interface IF [--metric N] [--mtu N] [--iw N] [--json] [--control HOST:PORT] [--tls-ca FILE] [--token T]",
  async run(argv, io) {
    // BSD spells it `-interface`; accept `--interface` too.
    const args = argv.map((a) => (a === "-interface" ? "--interface" : a));
    const { values, positionals } = parseCli(args, {
      ...clientOptions,
      interface: { type: "string" },
      metric: { type: "string" },
      mtu: { type: "string" },
      iw: { type: "string" },
    });
    const [prefix, gateway, ...extra] = positionals;
    if (!prefix) throw new UsageError("missing PREFIX");
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const ifname = values.interface as string | undefined;
    if (!gateway && !ifname) throw new UsageError("give a GATEWAY or -interface IF");
    const route = {
      prefix,
      gateway: gateway ?? "",
      ifname: ifname ?? "",
      metric: uint("metric", values.metric, 0xffffffff),
      mtu: uint("mtu", values.mtu, 65535),
      iw: uint("iw", values.iw, 0xffffffff),
    };
    const r = await withControl(values, (c) => c.addRoute(route));
    if (values.json) printJson(io, { op: "add", route, revision: r.revision, appliedCpus: r.appliedCpus });
    else io.stdout(`add net ${prefix}: ${gateway ? `gateway ${gateway}` : `interface ${ifname}`} (applied on cpus ${r.appliedCpus.join(",") || "none"}; revision ${r.revision})\n`);
    return 0;
  },
};

const del: Command = {
  path: ["route", "delete"],
  summary: "delete a route on every CPU",
  usage: "dfly route delete PREFIX [--json] [--control HOST:PORT] [--tls-ca FILE] [--token T]",
  async run(argv, io) {
    const { values, positionals } = parseCli(argv, clientOptions);
    if (positionals.length !== 1) throw new UsageError("want exactly one PREFIX");
    const r = await withControl(values, (c) => c.deleteRoute(positionals[0]));
    if (values.json) printJson(io, { op: "delete", route: r.route, revision: r.revision, appliedCpus: r.appliedCpus });
    else io.stdout(`delete net ${positionals[0]} (applied on cpus ${r.appliedCpus.join(",") || "none"}; revision ${r.revision})\n`);
    return 0;
  },
};

const show: Command = {
  path: ["route", "show"],
  summary: "the route table (the control's authoritative copy)",
  usage: "dfly route show [--json] [--control HOST:PORT] [--tls-ca FILE] [--token T]",
  async run(argv, io) {
    const { values, positionals } = parseCli(argv, clientOptions);
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const l = await withControl(values, (c) => c.listRoutes());
    if (values.json) printJson(io, { revision: l.revision, digest: l.digest, routes: l.routes });
    else io.stdout(`Routing tables (revision ${l.revision}, digest ${l.digest})\n\n` + formatRoutes(l.routes));
    return 0;
  },
};

const verify: Command = {
  path: ["route", "verify"],
  summary: "each CPU's route-table digest against the control's (exit 1 if any differs)",
  usage: "dfly route verify [--json] [--control HOST:PORT] [--tls-ca FILE] [--token T]",
  async run(argv, io) {
    const { values, positionals } = parseCli(argv, clientOptions);
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const v = await withControl(values, (c) => c.verifyRoutes());
    if (values.json) printJson(io, v);
    else {
      io.stdout(`expected ${v.expectedDigest} (revision ${v.revision})\n`);
      io.stdout(`${"CPU".padEnd(5)}${"DIGEST".padEnd(34)}${"ROUTES".padEnd(8)}MATCH\n`);
      for (const c of v.cpus) io.stdout(`${String(c.cpu).padEnd(5)}${(c.digest || "-").padEnd(34)}${String(c.routes).padEnd(8)}${c.match ? "yes" : `NO${c.error ? ` (${c.error})` : ""}`}\n`);
      io.stdout(v.consistent ? `all ${v.cpus.length} CPUs agree\n` : `CPUs differ\n`);
    }
    return v.consistent ? 0 : 1;
  },
};

export const routeCommands: Command[] = [add, del, show, verify];
