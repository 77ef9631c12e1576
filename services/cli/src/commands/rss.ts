/**
 * `dfly rss hash | ringmap | explain`: the Toeplitz hash, the NIC ringmap and
 * redirect table, and the path of one flow from NIC ring to netisr CPU.
 * Output formats are fixed (other tools read them): see each command's usage.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import {
  NETISR_CPUMAX,
  Toeplitz,
  buildRingmap,
  netisrHashcpu,
  netisrHashlsb,
  parseKey,
  ringForHash,
  ringmapMatchingBuckets,
  symmetric,
  toeplitzHash,
} from "@dfly/core";
import { UsageError, type CliIO, type Command } from "../command.js";

/** A malformed address, port or tuple line (exit code 1; `line` is 1-based for stdin input). */
export class RssArgumentError extends Error {
  override readonly name = "RssArgumentError";
  constructor(
    message: string,
    readonly value: string,
    readonly line?: number,
  ) {
    super(line === undefined ? message : `line ${line}: ${message}`);
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

function parse(argv: string[], options: Options) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Dotted quad → big-endian uint32; strict (no leading zeros, each octet 0..255). */
function parseIPv4(s: string, line?: number): number {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(s);
  const o = m ? [m[1], m[2], m[3], m[4]].map(Number) : [];
  if (!m || o.some((x) => x > 255)) throw new RssArgumentError(`bad IPv4 address "${s}"`, s, line);
  return ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0;
}

function parsePort(s: string, line?: number): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(s) || Number(s) > 65535) throw new RssArgumentError(`bad port "${s}" (want 0..65535)`, s, line);
  return Number(s);
}

/** ADDR:PORT */
function parseEndpoint(s: string): { addr: number; port: number; text: string } {
  const i = s.lastIndexOf(":");
  if (i < 0) throw new RssArgumentError(`bad endpoint "${s}" (want ADDR:PORT)`, s);
  return { addr: parseIPv4(s.slice(0, i)), port: parsePort(s.slice(i + 1)), text: s };
}

/** A whole non-negative decimal integer option (a usage error otherwise). */
function intOption(name: string, v: unknown, dflt?: number): number {
  if (v === undefined) {
    if (dflt === undefined) throw new UsageError(`--${name} is required`);
    return dflt;
  }
  if (typeof v !== "string" || !/^\d{1,9}$/.test(v)) throw new UsageError(`--${name} wants a whole number, got "${String(v)}"`);
  return Number(v);
}

const hex32 = (h: number): string => "0x" + (h >>> 0).toString(16).padStart(8, "0");
const hex16 = (h: number): string => "0x" + (h & 0xffff).toString(16).padStart(4, "0");

type Hasher = { hash4(s: number, d: number, sp: number, dp: number): number; hash2(s: number, d: number): number };

function tupleHash(h: Hasher, l3: boolean, f: string[], line?: number): number {
  const src = parseIPv4(f[0], line);
  const dst = parseIPv4(f[1], line);
  if (l3) {
    if (f.length === 4) {
      parsePort(f[2], line);
      parsePort(f[3], line);
    }
    return h.hash2(src, dst);
  }
  return h.hash4(src, dst, parsePort(f[2], line), parsePort(f[3], line));
}

export const rssHashCommand: Command = {
  path: ["rss", "hash"],
  summary: "Toeplitz RSS hash of a tuple (or of tuples on stdin)",
  usage:
    "dfly rss hash [--key symmetric|microsoft|<80 hex digits>] [--l3] SRC DST SPORT DPORT\n" +
    "  prints the raw 32-bit hash as 0x%08x. Input order: source address, destination address,\n" +
    "  source port, destination port. --l3 hashes the addresses only (ports may be omitted).\n" +
    "  With no tuple arguments, reads one 'SRC DST SPORT DPORT' per line from stdin (blank lines\n" +
    "  skipped) and prints one hash per line; a bad line is an error naming its number (exit 1).\n" +
    "  Default key: symmetric (0x6d,0x5a repeated, DragonFly's).",
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values, positionals } = parse(argv, { key: { type: "string" }, l3: { type: "boolean" } });
    const l3 = values.l3 === true;
    const keyArg = typeof values.key === "string" ? values.key : "symmetric";
    const hasher: Hasher = keyArg.trim().toLowerCase() === "symmetric" ? symmetric : new Toeplitz(parseKey(keyArg));
    const counts = l3 ? [2, 4] : [4];
    if (positionals.length > 0) {
      if (!counts.includes(positionals.length)) {
        throw new UsageError(`want ${l3 ? "SRC DST [SPORT DPORT]" : "SRC DST SPORT DPORT"}, got ${positionals.length} argument(s)`);
      }
      io.stdout(hex32(tupleHash(hasher, l3, positionals)) + "\n");
      return 0;
    }
    const lines = (await io.stdin()).split("\n");
    const out: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      const text = lines[i].trim();
      if (text === "") continue;
      const f = text.split(/\s+/);
      if (!counts.includes(f.length)) {
        throw new RssArgumentError(`want ${l3 ? "SRC DST [SPORT DPORT]" : "SRC DST SPORT DPORT"}, got ${f.length} field(s): "${text}"`, text, i + 1);
      }
      out.push(hex32(tupleHash(hasher, l3, f, i + 1)));
    }
    // All or nothing: a bad line prints no hashes.
    if (out.length > 0) io.stdout(out.join("\n") + "\n");
    return 0;
  },
};

function ringmapArgs(values: Record<string, unknown>, ncpusDefaultRings: boolean) {
  const ncpus = intOption("cpus", values.cpus);
  return {
    ncpus,
    rings: intOption("rings", values.rings, ncpusDefaultRings ? ncpus : undefined),
    unit: intOption("unit", values.unit, 0),
    entries: intOption("entries", values.entries, NETISR_CPUMAX),
  };
}

export const rssRingmapCommand: Command = {
  path: ["rss", "ringmap"],
  summary: "NIC ring → CPU map and RSS redirect table (if_ringmap_*)",
  usage:
    "dfly rss ringmap --cpus N --rings R [--unit U] [--entries 128|512] [--json]\n" +
    "  --json prints {\"ncpus\",\"rings\",\"grid\",\"ringToCpu\":[...],\"redirect\":[...]} (rings after\n" +
    "  the fix-up: at most N). --unit is the device unit (ix1 → 1); --entries the redirect table size,\n" +
    "  a multiple of 128 (ix 82599/X540: 128, X550: 512).",
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values, positionals } = parse(argv, {
      cpus: { type: "string" },
      rings: { type: "string" },
      unit: { type: "string" },
      entries: { type: "string" },
      json: { type: "boolean" },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const a = ringmapArgs(values, false);
    const rm = buildRingmap(a);
    if (values.json === true) {
      const o = { ncpus: rm.ncpus, rings: rm.rings, grid: rm.grid, ringToCpu: rm.ringToCpu, redirect: rm.redirect };
      io.stdout(JSON.stringify(o) + "\n");
      return 0;
    }
    const w = String(Math.max(rm.rings, rm.ncpus) - 1).length;
    let s = `ncpus ${rm.ncpus}  rings ${rm.rings}  grid ${rm.grid}  unit ${a.unit}  redirect entries ${rm.redirect.length}\n\n`;
    s += "ring  cpu\n";
    rm.ringToCpu.forEach((cpu, ring) => (s += `${String(ring).padStart(4)}  ${String(cpu).padStart(3)}\n`));
    s += `\nredirect table (entry: rings)\n`;
    for (let i = 0; i < rm.redirect.length; i += 16) {
      s += `${String(i).padStart(4)}: ${rm.redirect.slice(i, i + 16).map((r) => String(r).padStart(w)).join(" ")}\n`;
    }
    s += `\nbuckets received on their netisr cpu: ${ringmapMatchingBuckets(rm, rm.redirect)}/${NETISR_CPUMAX}\n`;
    io.stdout(s);
    return 0;
  },
};

export const rssExplainCommand: Command = {
  path: ["rss", "explain"],
  summary: "Follow one flow: hash, redirect entry, ring, ring CPU, netisr CPU",
  usage:
    "dfly rss explain SRC:SPORT DST:DPORT --cpus N [--rings R] [--proto tcp|udp] [--unit U] [--entries 128|512] [--json]\n" +
    "  shows the raw hash, toeplitz_hash, bucket (hash & 127), redirect entry, ring, the ring's CPU\n" +
    "  and the netisr CPU ((hash & 127) % N), and says when the packet is redispatched. TCP hashes\n" +
    "  the 4-tuple, UDP the address pair (DragonFly's key). --rings defaults to N.",
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values, positionals } = parse(argv, {
      cpus: { type: "string" },
      rings: { type: "string" },
      unit: { type: "string" },
      entries: { type: "string" },
      proto: { type: "string" },
      json: { type: "boolean" },
    });
    if (positionals.length !== 2) throw new UsageError(`want SRC:SPORT DST:DPORT, got ${positionals.length} argument(s)`);
    const proto = values.proto ?? "tcp";
    if (proto !== "tcp" && proto !== "udp") throw new UsageError(`--proto wants tcp or udp, got "${String(proto)}"`);
    const a = ringmapArgs(values, true);
    const src = parseEndpoint(positionals[0]);
    const dst = parseEndpoint(positionals[1]);
    const rm = buildRingmap(a);

    const raw = proto === "tcp" ? symmetric.hash4(src.addr, dst.addr, src.port, dst.port) : symmetric.hash2(src.addr, dst.addr);
    const hash = toeplitzHash(raw);
    const bucket = netisrHashlsb(hash);
    const entry = (raw >>> 0) % rm.redirect.length;
    const ring = ringForHash(rm.redirect, raw);
    const ringCpu = rm.ringToCpu[ring];
    const netisrCpu = netisrHashcpu(hash, rm.ncpus);
    const redispatch = ringCpu !== netisrCpu;
    const multicast = proto === "udp" && dst.addr >>> 28 === 0xe;

    if (values.json === true) {
      const o = {
        proto,
        src: positionals[0].slice(0, positionals[0].lastIndexOf(":")),
        sport: src.port,
        dst: positionals[1].slice(0, positionals[1].lastIndexOf(":")),
        dport: dst.port,
        raw: hex32(raw),
        hash: hex16(hash),
        bucket,
        entry,
        ring,
        ringCpu,
        netisrCpu,
        redispatch,
      };
      io.stdout(JSON.stringify(o) + "\n");
      return 0;
    }
    const lines = [
      `flow           ${proto} ${src.text} -> ${dst.text}`,
      `hash input     ${proto === "tcp" ? "src, dst, sport, dport (4-tuple)" : "src, dst (address pair)"}; key 0x6d5a x20`,
      `raw hash       ${hex32(raw)}`,
      `toeplitz_hash  ${hex16(hash)}`,
      `bucket         ${bucket} (hash & 127)`,
      `redirect entry ${entry} of ${rm.redirect.length} -> ring ${ring}`,
      `ring           ${ring} of ${rm.rings} (grid ${rm.grid}, unit ${a.unit})`,
      `ring cpu       ${ringCpu}`,
      `netisr cpu     ${netisrCpu} ((hash & 127) % ${rm.ncpus})`,
      redispatch
        ? `verdict        received on cpu ${ringCpu}, redispatched to cpu ${netisrCpu}`
        : `verdict        received and processed on cpu ${netisrCpu} (no redispatch)`,
    ];
    if (multicast) lines.push("note           multicast destination: when software computes the hash (ip_hashfn) it is 0, i.e. netisr cpu 0");
    io.stdout(lines.join("\n") + "\n");
    return 0;
  },
};

export const rssCommands: Command[] = [rssExplainCommand, rssHashCommand, rssRingmapCommand];
