/**
 * `dfly pcap flows FILE --cpus N [--rings R] [--json]`: steer every packet of a
 * pcap/pcapng capture through RSS (DragonFly's ip_hashfn with the symmetric key,
 * toeplitz_hash = raw & 0xffff, netisr_hashcpu = (h & 127) % N) and print one
 * line per connection, both directions together.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  IPPROTO,
  IP_MF,
  IP_OFFMASK,
  LINKTYPE,
  PcapFormatError,
  buildRingmap,
  ipPacketHash,
  ipString,
  netisrHashcpu,
  rawIpOf,
  readPcap,
  ringForHash,
  toeplitzHash,
} from "@dfly/core";
import { UsageError, type CliIO, type Command } from "../command.js";

/** The capture file could not be read from disk. */
export class PcapFileError extends Error {
  override readonly name = "PcapFileError";
  constructor(readonly file: string, cause: unknown) {
    super(`cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
}

/** One connection as `dfly pcap flows --json` prints it. */
export interface PcapFlow {
  /** "tcp", "udp", "icmp" or the protocol number as a string. */
  proto: string;
  /** Source of the flow's first packet. */
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** 16-bit toeplitz_hash, "0x%04x" (as `dfly rss explain --json`). */
  hash: string;
  /** Distinct netisr CPUs its packets were steered to, ascending. */
  cpus: number[];
  packets: number;
  /** With --rings: distinct RX rings and the CPUs polling them. */
  rings?: number[];
  ringCpus?: number[];
}

export interface PcapFlowsResult {
  flows: PcapFlow[];
  /** Records in the file. */
  records: number;
  /** Records that were not IPv4 (ARP, IPv6, unknown link type) or too short for an IPv4 header. */
  notIpv4: number;
  /** Link types of records this reader does not know (their records count in notIpv4). */
  unknownLinktypes: number[];
  error?: PcapFormatError;
}

const PROTO_NAME: Record<number, string> = { [IPPROTO.TCP]: "tcp", [IPPROTO.UDP]: "udp", [IPPROTO.ICMP]: "icmp" };

interface FlowAcc {
  flow: PcapFlow;
  cpus: Set<number>;
  rings: Set<number>;
  ringCpus: Set<number>;
}

const hex16 = (h: number): string => "0x" + (h & 0xffff).toString(16).padStart(4, "0");
const sorted = (s: Set<number>): number[] => [...s].sort((a, b) => a - b);

/**
 * The flows of a capture. A flow is (protocol, {addr:port, addr:port}) without
 * direction; ICMP and other protocols have ports 0. A non-first fragment joins the
 * flow of its first fragment (same src, dst, protocol, IP id) when that was seen
 * first, else a port-0 flow of its address pair. A record cut short by the snaplen
 * is padded to its IP total length before hashing, as the NIC saw the whole packet.
 */
export function pcapFlows(bytes: Uint8Array, ncpus: number, rings?: number): PcapFlowsResult {
  const rm = buildRingmap({ ncpus, rings: rings ?? ncpus });
  const read = readPcap(bytes);
  const flows = new Map<string, FlowAcc>();
  const fragFlow = new Map<string, string>();
  const unknown = new Set<number>();
  let notIpv4 = 0;
  for (const rec of read.records) {
    if (!KNOWN_LINKTYPES.has(rec.linktype)) unknown.add(rec.linktype);
    let frame = rawIpOf(rec.linktype, rec.data);
    if (!frame || frame.length < 20) {
      notIpv4++;
      continue;
    }
    const hl = (frame[0] & 0x0f) << 2;
    const iplen = (frame[2] << 8) | frame[3];
    if (iplen > frame.length && hl >= 20 && iplen >= hl && rec.origLen > rec.data.length) {
      const padded = new Uint8Array(iplen);
      padded.set(frame);
      frame = padded;
    }
    const p = frame[9];
    const src = ((frame[12] << 24) | (frame[13] << 16) | (frame[14] << 8) | frame[15]) >>> 0;
    const dst = ((frame[16] << 24) | (frame[17] << 16) | (frame[18] << 8) | frame[19]) >>> 0;
    const ipoff = (frame[6] << 8) | frame[7];
    const id = (frame[4] << 8) | frame[5];
    const ported = (p === IPPROTO.TCP || p === IPPROTO.UDP) && hl >= 20 && frame.length >= hl + 4;
    const laterFrag = (ipoff & IP_OFFMASK) !== 0;
    let sport = 0;
    let dport = 0;
    if (ported && !laterFrag) {
      sport = (frame[hl] << 8) | frame[hl + 1];
      dport = (frame[hl + 2] << 8) | frame[hl + 3];
    }
    const fragKey = `${p}/${src}/${dst}/${id}`;
    let key: string | undefined = laterFrag ? fragFlow.get(fragKey) : undefined;
    if (key === undefined) {
      const a = `${src}:${sport}`;
      const b = `${dst}:${dport}`;
      key = `${p}|${a < b ? a + "|" + b : b + "|" + a}`;
    }
    if (!laterFrag && ipoff & IP_MF) fragFlow.set(fragKey, key);

    const raw = ipPacketHash(frame);
    const hash = toeplitzHash(raw);
    let acc = flows.get(key);
    if (!acc) {
      acc = {
        flow: {
          proto: PROTO_NAME[p] ?? String(p),
          src: ipString(src),
          sport,
          dst: ipString(dst),
          dport,
          hash: hex16(hash),
          cpus: [],
          packets: 0,
        },
        cpus: new Set(),
        rings: new Set(),
        ringCpus: new Set(),
      };
      flows.set(key, acc);
    }
    acc.flow.packets++;
    acc.cpus.add(netisrHashcpu(hash, ncpus));
    const ring = ringForHash(rm.redirect, raw);
    acc.rings.add(ring);
    acc.ringCpus.add(rm.ringToCpu[ring]);
  }
  const out: PcapFlow[] = [];
  for (const acc of flows.values()) {
    const f: PcapFlow = { ...acc.flow, cpus: sorted(acc.cpus) };
    if (rings !== undefined) {
      f.rings = sorted(acc.rings);
      f.ringCpus = sorted(acc.ringCpus);
    }
    out.push(f);
  }
  return { flows: out, records: read.records.length, notIpv4, unknownLinktypes: sorted(unknown), error: read.error };
}

const KNOWN_LINKTYPES: ReadonlySet<number> = new Set(Object.values(LINKTYPE));

/** The largest capture `pcap flows` reads (it holds the whole file). */
export const PCAP_FLOWS_MAX_BYTES = 256 * 1024 * 1024;
const MAGICS = new Set([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a]);

/** Reads a capture, bounded: the magic first (/dev/zero or a text file stops there), then at most `max` bytes. */
export function readCaptureFile(file: string, max = PCAP_FLOWS_MAX_BYTES): Uint8Array {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    throw new PcapFileError(file, e);
  }
  try {
    const head = Buffer.alloc(4);
    const n = readSync(fd, head, 0, 4, null);
    const magic = n === 4 ? head.readUInt32BE(0) : -1;
    // Not a capture: the reader names the problem from these bytes alone.
    if (!MAGICS.has(magic)) return head.subarray(0, n);
    const chunks: Buffer[] = [head];
    let total = 4;
    for (;;) {
      const b = Buffer.allocUnsafe(Math.min(1 << 20, max + 1 - total));
      const got = readSync(fd, b, 0, b.length, null);
      if (got === 0) break;
      chunks.push(b.subarray(0, got));
      total += got;
      if (total > max) throw new PcapFileError(file, new Error(`larger than ${max / (1024 * 1024)} MiB`));
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

function intOption(name: string, v: unknown, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new UsageError(`--${name} wants a whole number in ${min}..${max}, got "${String(v)}"`);
  }
  return Number(v);
}

function table(r: PcapFlowsResult, withRings: boolean): string {
  const head = ["proto", "src", "sport", "dst", "dport", "hash", "cpus", "packets", ...(withRings ? ["ringCpus"] : [])];
  const rows = r.flows.map((f) => [
    f.proto, f.src, String(f.sport), f.dst, String(f.dport), f.hash, f.cpus.join(","), String(f.packets),
    ...(withRings ? [(f.ringCpus ?? []).join(",")] : []),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i])).join("  ").trimEnd() + "\n";
  let s = line(head);
  for (const row of rows) s += line(row);
  const ipv4 = r.records - r.notIpv4;
  s += `\n${r.records} packets: ${ipv4} IPv4 in ${r.flows.length} flows, ${r.notIpv4} not IPv4\n`;
  return s;
}

export const pcapFlowsCommand: Command = {
  path: ["pcap", "flows"],
  summary: "Steer every packet of a pcap/pcapng through RSS; one line per connection",
  usage:
    "dfly pcap flows FILE --cpus N [--rings R] [--json]\n" +
    "  FILE is pcap (either byte order, µs or ns) or pcapng; Ethernet (one VLAN tag), Linux SLL/SLL2,\n" +
    "  NULL/LOOP and raw IP link types. Each IPv4 packet is hashed as DragonFly's ip_hashfn does (TCP:\n" +
    "  4-tuple; UDP and fragments: address pair; others: 0; symmetric key), toeplitz_hash = raw & 0xffff,\n" +
    "  netisr cpu = (hash & 127) % N. One line per connection, both directions together, in order of\n" +
    "  first packet; src is the first packet's source.\n" +
    "  --json: one object per line {\"proto\",\"src\",\"sport\",\"dst\",\"dport\",\"hash\",\"cpus\":[...],\"packets\"}\n" +
    "  (hash as \"0x%04x\"); with --rings also \"rings\" and \"ringCpus\" (the RX rings the NIC's redirect\n" +
    "  table picked and the CPUs polling them; R defaults to N). A file cut short or corrupt: the flows of\n" +
    "  the packets before the problem are printed, the problem goes to stderr, exit code 1.",
  async run(argv: string[], io: CliIO): Promise<number> {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        options: { cpus: { type: "string" }, rings: { type: "string" }, json: { type: "boolean" } },
        allowPositionals: true,
        strict: true,
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { values, positionals } = parsed;
    if (positionals.length !== 1) throw new UsageError(`want one FILE, got ${positionals.length} argument(s)`);
    const ncpus = intOption("cpus", values.cpus, 1, 128);
    if (ncpus === undefined) throw new UsageError("--cpus is required");
    const rings = intOption("rings", values.rings, 1, 1024);
    const file = positionals[0];
    const r = pcapFlows(readCaptureFile(file), ncpus, rings);
    if (r.error && r.records === 0) throw r.error;
    if (r.unknownLinktypes.length > 0) {
      io.stderr(`dfly pcap flows: ${file}: link type ${r.unknownLinktypes.join(", ")} is not supported (known: ${[...KNOWN_LINKTYPES].join(", ")}; www.tcpdump.org/linktypes.html)\n`);
      return 1;
    }
    if (values.json === true) {
      io.stdout(r.flows.map((f) => JSON.stringify(f) + "\n").join(""));
    } else {
      io.stdout(table(r, rings !== undefined));
    }
    if (r.error) {
      io.stderr(`dfly pcap flows: ${file}: ${r.error.message}; flows above are from the ${r.records} packets before it\n`);
      return 1;
    }
    return 0;
  },
};

export const pcapCommands: Command[] = [pcapFlowsCommand];
