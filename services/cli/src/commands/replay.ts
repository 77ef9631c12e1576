/**
 * `dfly replay FILE.pcap|.pcapng`: the IPv4 packets of a capture published on a running cluster's
 * `<cluster>.wire.<if>.in` over NATS, at the capture's own pace (--speed X: X times faster) or at
 * --pps N, once or (--loop) until --duration / --count. Core's reader never throws: a file that is
 * not a capture, or is cut short or corrupt, is one error line and exit 1 before anything is sent;
 * records that hold no IPv4 packet (ARP, IPv6, an unknown link type) are counted and reported.
 * A record cut by the snaplen is padded to its IP total length (as `dfly pcap flows` hashes it);
 * link padding past the IP total length is cut.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { rawIpOf, readPcap } from "@dfly/core";
import { FrameBatchWriter, MAX_BATCH_FRAMES, type Transport } from "@dfly/transport";
import { UsageError, type CliIO, type Command } from "../command.js";
import {
  connectTarget,
  durationArg,
  ifnameOpt,
  intArg,
  LoadArgError,
  LoadInterrupt,
  numberOpt,
  PcapTap,
  Progress,
  resolveTarget,
  targetFlags,
  wantsTextProgress,
  wireInSubject,
} from "../load/target.js";

export interface ReplayPacket {
  /** Offset from the first packet, ms (capture time). */
  atMs: number;
  frame: Uint8Array;
}

export interface ReplayFile {
  format: string;
  records: number;
  packets: ReplayPacket[];
  /** Records without an IPv4 packet, or too short for its header: not sent. */
  skipped: number;
}

/** The IPv4 packets of a capture, or a LoadArgError naming the file and what is wrong with it. */
export function loadReplayFile(file: string): ReplayFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new LoadArgError(`cannot read ${file}: ${(e as Error).message}`);
  }
  const r = readPcap(bytes);
  if (r.error) {
    const what = r.error.kind === "notpcap" ? "" : r.error.kind === "truncated" ? "is cut short: " : "is corrupt: ";
    throw new LoadArgError(`${file}${what ? ` ${what}` : ": "}${r.error.message}${r.records.length ? ` (after ${r.records.length} readable records; nothing sent)` : ""}`);
  }
  const packets: ReplayPacket[] = [];
  let skipped = 0;
  const t0 = r.records.length ? r.records[0].tsNs : 0n;
  for (const rec of r.records) {
    let f = rawIpOf(rec.linktype, rec.data);
    const hl = f && f.length >= 20 ? (f[0] & 0x0f) << 2 : 0;
    if (!f || hl < 20 || f.length < hl) {
      skipped++;
      continue;
    }
    const iplen = (f[2] << 8) | f[3];
    if (iplen >= hl && iplen < f.length) f = f.subarray(0, iplen);
    else if (iplen > f.length && rec.origLen > rec.data.length && iplen <= 65535) {
      const padded = new Uint8Array(iplen);
      padded.set(f);
      f = padded;
    }
    const d = rec.tsNs - t0;
    packets.push({ atMs: d > 0n ? Number(d / 1000n) / 1000 : 0, frame: f });
  }
  return { format: r.format, records: r.records.length, packets, skipped };
}

export interface ReplaySummary {
  event: "done";
  file: string;
  records: number;
  sent: number;
  bytes: number;
  skipped: number;
  passes: number;
  batches: number;
  durationMs: number;
  pps: number;
  subject: string;
  interrupted: boolean;
  pcap?: string;
}

interface PaceOptions {
  /** Fixed packets per second, else the capture's timing divided by `speed`. */
  pps?: number;
  speed: number;
  loop: boolean;
  count?: number;
  durationMs: number;
}

/** Sends the packets on `subject` at their pace; resolves when done or stopped. */
class Replayer {
  sent = 0;
  bytes = 0;
  batches = 0;
  passes = 0;
  private i = 0;
  private passStart = 0;
  private running = true;
  private timer: NodeJS.Timeout | undefined;
  private done: () => void = () => undefined;
  private readonly w = new FrameBatchWriter(1024 * 1023);
  private readonly span: number;

  constructor(
    private readonly pkts: ReplayPacket[],
    private readonly t: Transport,
    private readonly subject: string,
    private readonly o: PaceOptions,
  ) {
    // A pass at fixed pps lasts n/pps; at the capture's pace its span (plus one packet's gap).
    const last = pkts.length ? pkts[pkts.length - 1].atMs : 0;
    this.span = last + (pkts.length > 1 ? last / (pkts.length - 1) : 1);
  }

  run(): Promise<void> {
    this.passStart = performance.now();
    return new Promise((r) => {
      this.done = r;
      if (this.pkts.length === 0) this.stop();
      else this.pump();
    });
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.done();
  }

  /** When packet i of the current pass is due, ms after the pass started. */
  private dueAt(i: number): number {
    return this.o.pps !== undefined ? (i * 1000) / this.o.pps : this.pkts[i].atMs / this.o.speed;
  }

  private pump(): void {
    this.timer = undefined;
    if (!this.running) return;
    const now = performance.now() - this.passStart;
    let n = 0;
    while (this.running && this.i < this.pkts.length && this.dueAt(this.i) <= now && n < MAX_BATCH_FRAMES * 4) {
      if (this.o.count !== undefined && this.sent >= this.o.count) break;
      const f = this.pkts[this.i].frame;
      if (this.w.room < f.length) this.flushBatch();
      const at = this.w.reserve(f.length, 0);
      if (at < 0) {
        this.i++;
        continue; // larger than a batch: cannot happen for IPv4 (≤ 65535)
      }
      this.w.buffer.set(f, at);
      this.sent++;
      this.bytes += f.length;
      this.i++;
      n++;
    }
    this.flushBatch();
    if (this.i >= this.pkts.length) {
      this.passes++;
      if (!this.o.loop) return this.stop();
      this.i = 0;
      // The next pass starts one pass-length after this one (keeps the rate across passes).
      this.passStart += this.o.pps !== undefined ? (this.pkts.length * 1000) / this.o.pps : this.span / this.o.speed;
    }
    if (this.o.count !== undefined && this.sent >= this.o.count) return this.stop();
    const wait = Math.max(0, Math.min(1000, this.dueAt(this.i) - (performance.now() - this.passStart)));
    this.timer = setTimeout(() => this.pump(), wait < 1 ? 1 : wait);
  }

  private flushBatch(): void {
    if (this.w.count === 0) return;
    const b = this.w.finish().slice();
    this.w.reset();
    this.batches++;
    this.t.publish(this.subject, b);
  }
}

export const replayCommand: Command = {
  path: ["replay"],
  summary: "replay a pcap/pcapng's IPv4 packets into a running cluster's wire over NATS",
  usage:
    "dfly replay FILE.pcap|FILE.pcapng [--pps N | --speed X] [--loop] [--duration D] [--count N] [--ifname ix0]\n" +
    "            [--pcap OUT] [--nats URL] [--cluster NAME] [--json] [--progress]\n" +
    "  default: once, at the capture's own pace (--speed 1); --pps N: N packets a second; --loop: again and again\n" +
    "  until --duration (default 60s with --loop, at most 1h) or --count packets. Records with no IPv4 packet are\n" +
    "  counted (skipped), not sent. A file that is not a capture, or is cut short: one error line, exit 1.\n" +
    "  NATS and the cluster: --nats/--cluster, else DFLY_NATS_URL/DFLY_CLUSTER, else the dfly up context.",
  async run(argv: string[], io: CliIO): Promise<number> {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        options: {
          ...targetFlags,
          pps: { type: "string" },
          speed: { type: "string" },
          loop: { type: "boolean", default: false },
          duration: { type: "string" },
          count: { type: "string" },
          ifname: { type: "string" },
          pcap: { type: "string" },
        },
        allowPositionals: true,
        strict: true,
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { values: v, positionals } = parsed;
    if (positionals.length !== 1) throw new UsageError(`want one FILE, got ${positionals.length} argument(s)`);
    if (v.pps !== undefined && v.speed !== undefined) throw new LoadArgError(`--pps ${v.pps} and --speed ${v.speed}: give one of them`);
    const pps = numberOpt("pps", v.pps, 10_000_000);
    const speed = numberOpt("speed", v.speed, 1_000_000) ?? 1;
    const count = intArg("count", v.count, 1, 1_000_000_000);
    const durationMs = durationArg("duration", v.duration) ?? (v.loop ? 60_000 : 3_600_000);
    const ifname = ifnameOpt(v.ifname);
    const file = positionals[0];
    const rf = loadReplayFile(file);
    if (rf.packets.length === 0) throw new LoadArgError(`${file}: no IPv4 packets to send (${rf.records} records, ${rf.skipped} not IPv4)`);
    const target = resolveTarget(v);
    const conn = await connectTarget(target, "dfly-replay");
    const tap = v.pcap ? new PcapTap(v.pcap) : undefined;
    const transport = tap ? tap.wrap(conn) : conn;
    const subject = wireInSubject(target, ifname);
    const rp = new Replayer(rf.packets, transport, subject, { ...(pps !== undefined ? { pps } : {}), speed, loop: v.loop === true, ...(count !== undefined ? { count } : {}), durationMs });
    if (!v.json) {
      io.stderr(
        `replay: ${file} (${rf.format}): ${rf.packets.length} IPv4 packets${rf.skipped ? `, ${rf.skipped} records not IPv4 (skipped)` : ""}, ` +
          `${pps !== undefined ? `${pps} pps` : `speed ${speed}`}${v.loop ? ", looping" : ""} on ${subject} via ${target.natsUrl} (${target.from})\n`,
      );
    }
    const progress = new Progress(io, { label: "replay", unit: "pkt", json: v.json === true, text: wantsTextProgress(v.progress) }, () => ({ total: rp.sent, bytes: rp.bytes, passes: rp.passes }));
    const intr = new LoadInterrupt(() => rp.stop());
    try {
      progress.start();
      const stopTimer = setTimeout(() => rp.stop(), durationMs);
      await rp.run();
      clearTimeout(stopTimer);
      progress.stop();
      await conn.flush();
      const ms = progress.elapsedMs();
      const s: ReplaySummary = {
        event: "done",
        file,
        records: rf.records,
        sent: rp.sent,
        bytes: rp.bytes,
        skipped: rf.skipped,
        passes: rp.passes,
        batches: rp.batches,
        durationMs: Math.round(ms),
        pps: Math.round((rp.sent * 1000) / Math.max(1, ms)),
        subject,
        interrupted: intr.interrupted,
        ...(tap ? { pcap: tap.file } : {}),
      };
      tap?.save();
      if (v.json) io.stdout(JSON.stringify(s) + "\n");
      else
        io.stdout(
          `replay: sent ${s.sent} packets (${s.bytes} bytes) in ${s.batches} batches, ${s.passes} passes, ${s.durationMs} ms (${s.pps} pps) on ${subject}` +
            `${s.skipped ? `; ${s.skipped} records not IPv4, not sent` : ""}${intr.interrupted ? " (interrupted)" : ""}\n`,
        );
      return 0;
    } finally {
      progress.stop();
      rp.stop();
      await conn.close();
      intr.end();
    }
  },
};

export const replayCommands: Command[] = [replayCommand];
