/**
 * `dfly route add | delete | load | show | verify`: the replicated route table through
 * the control's RouteService. A change is stored, then applied CPU by CPU; the answer
 * names the CPUs that applied it and any still pending.
 */
import { open } from "node:fs/promises";
import { createGunzip } from "node:zlib";
import type { Readable } from "node:stream";
import type { RouteMessage } from "@dfly/control";
import { UsageError, type Command } from "../command.js";
import { clientOptions, parseCli, parseFlags, printJson, withControl } from "./control.js";

function uint(name: string, v: unknown, max: number): number {
  if (v === undefined) return 0;
  const s = String(v);
  if (!/^\d+$/.test(s) || Number(s) > max) throw new UsageError(`--${name} ${s}: want an integer 0..${max}`);
  return Number(s);
}

const dash = (v: string | number) => (v === "" || v === 0 ? "-" : String(v));

const HEAD = ["Destination", "Gateway", "Interface", "Metric", "MTU", "IW"];
/** Fixed widths, so chunks printed as they stream line up. */
const WIDTH = [20, 17, 11, 8, 7];

export function formatRoutes(routes: readonly RouteMessage[], part: "header" | "rows" = "header"): string {
  const rows = [...(part === "header" ? [HEAD] : []), ...routes.map((r) => [r.prefix, dash(r.gateway), dash(r.ifname), String(r.metric), dash(r.mtu), dash(r.iw)])];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(Math.max(WIDTH[i], c.length + 2)))).join("") + "\n").join("");
}

const add: Command = {
  path: ["route", "add"],
  summary: "add a route: stored, then applied CPU by CPU (the answer names any CPU still pending)",
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
    if (values.json) printJson(io, { op: "add", route, revision: r.revision, appliedCpus: r.appliedCpus, pendingCpus: r.pendingCpus, status: r.status });
    else io.stdout(`add net ${prefix}: ${gateway ? `gateway ${gateway}` : `interface ${ifname}`} (${r.status}; revision ${r.revision})\n`);
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
    if (values.json) printJson(io, { op: "delete", route: r.route, revision: r.revision, appliedCpus: r.appliedCpus, pendingCpus: r.pendingCpus, status: r.status });
    else io.stdout(`delete net ${positionals[0]} (${r.status}; revision ${r.revision})\n`);
    return 0;
  },
};

const show: Command = {
  path: ["route", "show"],
  summary: "the route table (the control's authoritative copy), streamed in chunks",
  usage: "dfly route show [--prefix A.B.C.D/LEN] [--limit N] [--json] [--control HOST:PORT] [--tls-ca FILE] [--token T]",
  async run(argv, io) {
    const { values } = parseFlags(argv, { ...clientOptions, prefix: { type: "string" }, limit: { type: "string" } });
    const limit = uint("limit", values.limit, 0xffffffff);
    const prefix = (values.prefix as string | undefined) ?? "";
    const routes: RouteMessage[] = [];
    let head = { revision: 0, digest: "", total: 0 };
    let printed = false;
    let shown = 0;
    await withControl(values, (c) =>
      c.streamRoutes({ limit, prefix }, (ch) => {
        head = { revision: Number(ch.revision), digest: ch.digest, total: ch.total };
        if (values.json) routes.push(...ch.routes);
        else {
          if (!printed) io.stdout(`Routing tables (revision ${head.revision}, digest ${head.digest})\n\n`);
          io.stdout(formatRoutes(ch.routes, printed ? "rows" : "header"));
          shown += ch.routes.length;
        }
        printed = true;
      }),
    );
    if (values.json) printJson(io, { revision: head.revision, digest: head.digest, total: head.total, routes });
    else if (shown < head.total) io.stdout(`(${shown} of ${head.total} routes${prefix ? ` within ${prefix}` : ""}; --limit)\n`);
    return 0;
  },
};

/** A route file's lines in about 256 KB pieces (gunzipped when it ends in .gz). */
async function* fileChunks(path: string): AsyncIterable<Uint8Array> {
  const fh = await open(path).catch((e: Error) => {
    throw new UsageError(`${path}: ${e.message}`);
  });
  let src: Readable = fh.createReadStream({ highWaterMark: 256 * 1024 });
  if (path.endsWith(".gz")) src = src.pipe(createGunzip({ chunkSize: 256 * 1024 }));
  for await (const b of src) yield b as Buffer;
}

const load: Command = {
  path: ["route", "load"],
  summary: "bulk-load routes from a file (one `prefix [gateway]` a line, .gz read as gzip)",
  usage: "dfly route load FILE [--gateway GW | --interface IF] [--metric N] [--json] [--control HOST:PORT] [--tls-ca FILE] [--token T]",
  async run(argv, io) {
    const { values, positionals } = parseCli(argv, { ...clientOptions, gateway: { type: "string" }, interface: { type: "string" }, metric: { type: "string" } });
    if (positionals.length !== 1) throw new UsageError("want exactly one FILE");
    const defaults = { gateway: (values.gateway as string | undefined) ?? "", ifname: (values.interface as string | undefined) ?? "", metric: uint("metric", values.metric, 0xffffffff) };
    const t0 = performance.now();
    const r = await withControl(values, (c) => c.loadRoutes(fileChunks(positionals[0]), defaults));
    const ms = performance.now() - t0;
    if (values.json) printJson(io, { ...r, revision: Number(r.revision), totalMs: ms });
    else {
      io.stdout(`loaded ${r.loaded} routes (${r.replaced} replaced, ${r.skippedIpv6} IPv6 lines skipped); table ${r.tableSize} routes, revision ${r.revision}\n`);
      io.stdout(`${r.status}\n`);
      io.stdout(`stored in ${r.storeMs.toFixed(0)} ms, applied in ${r.applyMs.toFixed(0)} ms (${r.cpuMs.map((c) => `cpu ${c.cpu} ${c.ms.toFixed(0)} ms`).join(", ")}); ${ms.toFixed(0)} ms in all\n`);
    }
    return 0;
  },
};

/** GET `url`: undefined on 200, else what went wrong (status and body, or the error). */
async function healthOf(url: string, timeoutMs = 3000): Promise<string | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (r.status === 200) return undefined;
    return `HTTP ${r.status} ${(await r.text()).trim().slice(0, 200)}`;
  } catch (err) {
    return err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
  }
}

const verify: Command = {
  path: ["route", "verify"],
  summary: "each CPU's route-table digest against the control's (exit 1 if any differs, or CPUs/health differ from what is expected)",
  usage: "dfly route verify [--expect-cpus N] [--health URL]... [--json] [--control HOST:PORT] [--tls-ca FILE] [--token T]",
  async run(argv, io) {
    const { values } = parseFlags(argv, { ...clientOptions, "expect-cpus": { type: "string" }, health: { type: "string", multiple: true } });
    const expectRaw = values["expect-cpus"] as string | undefined;
    // An empty CPU list is "consistent": --expect-cpus is what makes 0 registered CPUs a failure.
    const expectCpus = expectRaw === undefined ? undefined : uint("expect-cpus", expectRaw, 4096);
    if (expectCpus === 0) throw new UsageError("--expect-cpus 0: want at least 1 CPU");
    const urls = (values.health as string[] | undefined) ?? [];
    for (const u of urls) if (!/^https?:\/\//.test(u)) throw new UsageError(`--health ${u}: want an http:// or https:// URL`);
    const v = await withControl(values, (c) => c.verifyRoutes());
    const health = await Promise.all(urls.map(async (url) => ({ url, error: await healthOf(url) })));
    const cpusOk = expectCpus === undefined || v.cpus.length === expectCpus;
    const healthOk = health.every((h) => h.error === undefined);
    const ok = v.consistent && cpusOk && healthOk;
    if (values.json) printJson(io, { ...v, expectedCpus: expectCpus ?? null, cpusOk, health, ok });
    else {
      io.stdout(`expected ${v.expectedDigest} (revision ${v.revision})\n`);
      io.stdout(`${"CPU".padEnd(5)}${"DIGEST".padEnd(34)}${"ROUTES".padEnd(8)}MATCH\n`);
      for (const c of v.cpus) io.stdout(`${String(c.cpu).padEnd(5)}${(c.digest || "-").padEnd(34)}${String(c.routes).padEnd(8)}${c.match ? "yes" : `NO${c.error ? ` (${c.error})` : ""}`}\n`);
      io.stdout(v.consistent ? `all ${v.cpus.length} CPUs agree\n` : `CPUs differ\n`);
      if (!cpusOk) io.stdout(`CPUs registered: ${v.cpus.length}, expected ${expectCpus}\n`);
      for (const h of health) io.stdout(`health ${h.url}: ${h.error === undefined ? "ok" : `FAILED (${h.error})`}\n`);
    }
    return ok ? 0 : 1;
  },
};

export const routeCommands: Command[] = [add, del, load, show, verify];
