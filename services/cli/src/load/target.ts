/**
 * What `dfly pktgen`, `dfly replay` and `dfly load` share: the running cluster they feed (NATS URL,
 * cluster name, control address — from the flags, else the environment, else the context `dfly up`
 * wrote), a NATS connection that fails in one line, the wire subject, a tap that writes what was
 * sent to a pcap, and the progress lines (one a second: text on a terminal, JSON lines with --json).
 */
import { writeFileSync } from "node:fs";
import { PcapWriter } from "@dfly/core";
import { FrameBatchCursor, NatsTransport, natsAuthFromEnv, subjects, type Transport } from "@dfly/transport";
import { ControlClient } from "@dfly/control";
import type { CliIO } from "../command.js";
import { connected, controlAuthOf } from "../commands/control.js";
import { secureClient } from "../local/secure.js";
import { readContext } from "../local/context.js";
import { onInterrupt } from "../local/interrupt.js";

/** A flag's value is wrong: one line naming it, exit 1 (dispatch prints any Error so). */
export class LoadArgError extends Error {
  override readonly name = "LoadArgError";
}

export interface LoadTarget {
  natsUrl: string;
  cluster: string;
  /** The control's gRPC address (only `dfly load http-short` needs it). */
  controlAddr: string | undefined;
  controlFrom: string;
  /** Where each came from (for the first line the commands print). */
  from: string;
  /** NATS user and password (DFLY_NATS_USER/…, else the `dfly up --secure` context's load role). */
  natsAuth?: { user?: string; pass?: string; tlsCa?: string };
}

/** Flags every load command takes. */
export const targetFlags = {
  nats: { type: "string" },
  cluster: { type: "string" },
  json: { type: "boolean", default: false },
  progress: { type: "boolean", default: false },
} as const;

export function resolveTarget(v: { nats?: string; cluster?: string; control?: string }, env: NodeJS.ProcessEnv = process.env): LoadTarget {
  const ctx = readContext(env);
  let from: string;
  let natsUrl: string | undefined;
  if (v.nats !== undefined) [natsUrl, from] = [v.nats, "--nats"];
  else if (env.DFLY_NATS_URL) [natsUrl, from] = [env.DFLY_NATS_URL, "DFLY_NATS_URL"];
  else if (ctx?.natsUrl) [natsUrl, from] = [ctx.natsUrl, "the dfly up context"];
  else throw new LoadArgError("no NATS to feed: pass --nats nats://HOST:PORT, set DFLY_NATS_URL, or start a stack with dfly up");
  for (const u of natsUrl.split(",")) {
    if (!/^nats:\/\/[^\s/:]+:\d{1,5}$/.test(u)) throw new LoadArgError(`--nats ${natsUrl}: want nats://HOST:PORT (comma-separated for several)`);
  }
  const cluster = v.cluster ?? env.DFLY_CLUSTER ?? ctx?.cluster ?? "dfly";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(cluster)) throw new LoadArgError(`--cluster ${cluster}: want letters, digits, - or _ (a NATS subject token)`);
  const controlAddr = v.control ?? env.DFLY_CONTROL_ADDR ?? ctx?.controlAddr;
  const controlFrom = v.control !== undefined ? "--control" : env.DFLY_CONTROL_ADDR ? "DFLY_CONTROL_ADDR" : "the dfly up context";
  if (controlAddr !== undefined && !/^[^\s:]+:\d{1,5}$/.test(controlAddr)) throw new LoadArgError(`--control ${controlAddr}: want HOST:PORT (from ${controlFrom})`);
  const envAuth = natsAuthFromEnv(env);
  const sec = envAuth.user === undefined && from === "the dfly up context" && ctx?.secureDir ? secureClient(ctx.secureDir) : undefined;
  const natsAuth = sec ? { user: sec.natsUser, pass: sec.natsPass } : envAuth;
  return { natsUrl, cluster, controlAddr, controlFrom, from, natsAuth };
}

/** A client of the target's control, its connection up (else one line naming the address, within 1.5 s). */
export async function controlOf(t: LoadTarget, why: string): Promise<ControlClient> {
  if (!t.controlAddr) throw new LoadArgError(`${why}: no control to reach: pass --control HOST:PORT, set DFLY_CONTROL_ADDR, or start a stack with dfly up`);
  const c = new ControlClient(t.controlAddr, 5000, controlAuthOf({ control: t.controlFrom === "--control" ? t.controlAddr : undefined }));
  try {
    await connected(c, t.controlAddr, t.controlFrom);
    return c;
  } catch (e) {
    c.close();
    throw e;
  }
}

/** A NATS connection to the target, or one line saying it cannot be had (within `timeoutMs`). */
export async function connectTarget(t: LoadTarget, name: string, timeoutMs = 5000): Promise<NatsTransport> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`cannot reach NATS at ${t.natsUrl} (${t.from}) within ${timeoutMs} ms`)), timeoutMs);
  });
  const conn = NatsTransport.connect({ url: t.natsUrl, name, ...(t.natsAuth ?? {}) });
  try {
    return await Promise.race([conn, timeout]);
  } catch (e) {
    void conn.then((c) => c.close(), () => undefined);
    const msg = (e as Error).message;
    throw new Error(msg.startsWith("cannot reach") ? msg : `cannot reach NATS at ${t.natsUrl} (${t.from}): ${msg}`);
  } finally {
    clearTimeout(timer);
  }
}

export function wireInSubject(t: LoadTarget, ifname: string): string {
  return subjects.wireIn(t.cluster, ifname);
}

/** `--ifname`: an interface name as the NIC names them. */
export function ifnameOpt(v: string | undefined): string {
  const s = v ?? "ix0";
  if (!/^[a-z]+\d+$/.test(s)) throw new LoadArgError(`--ifname ${s}: want an interface name such as ix0`);
  return s;
}

/** `--name V`: a positive number (rates, speeds), at most `max`. */
export function numberOpt(name: string, v: string | undefined, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d*\.?\d+$/.test(v) || !(n > 0) || n > max) throw new LoadArgError(`--${name} ${v}: want a number more than 0 and at most ${max}`);
  return n;
}

/** `--name N`: an integer in min..max. */
export function intArg(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new LoadArgError(`--${name} ${v}: want an integer in ${min}..${max}`);
  return Number(v);
}

/** "3s", "500ms", "2m", "1h" → ms, more than 0 and at most 1 h. */
export function durationArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m?.[2] ?? "s"] ?? 1000;
  const ms = m ? Number(m[1]) * unit : NaN;
  if (!(ms > 0) || ms > 3_600_000) throw new LoadArgError(`--${name} ${v}: want a duration more than 0 and at most 1h, e.g. 10s, 500ms, 2m, 1h`);
  return Math.round(ms);
}

/**
 * A transport that also records every frame it publishes on a wire subject into a pcap
 * (LINKTYPE_RAW, the send time), written by `save()`: the exact record of what was sent.
 */
export class PcapTap {
  private readonly w = new PcapWriter();
  private readonly cursor = new FrameBatchCursor();
  frames = 0;
  constructor(readonly file: string) {}

  wrap(t: Transport): Transport {
    const pub = t.publish.bind(t);
    return new Proxy(t, {
      get: (target, p, recv) => {
        if (p === "publish") {
          return (subject: string, data: Uint8Array, opts?: Parameters<Transport["publish"]>[2]) => {
            if (subject.includes(".wire.")) this.add(data);
            pub(subject, data, opts);
          };
        }
        const v = Reflect.get(target, p, recv) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  add(batch: Uint8Array): void {
    const c = this.cursor;
    if (c.reset(batch) !== null) return;
    const ts = (performance.timeOrigin + performance.now()) / 1000;
    while (c.next()) {
      this.w.add(c.buf.slice(c.offset, c.offset + c.length), ts);
      this.frames++;
    }
  }

  save(): void {
    writeFileSync(this.file, this.w.bytes());
  }
}

export interface ProgressSample {
  /** Packets (or transactions) so far. */
  total: number;
  /** More totals to show, e.g. bytes, errors. */
  [k: string]: number;
}

/**
 * One line a second while a load runs: `label: 3.0 s  1000 pps  total 3000 …` on stderr when it is a
 * terminal (or --progress), or with --json a JSON line on stdout
 * `{"event":"progress","t":3.0,"rate":1000,"total":3000,…}`.
 */
export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = performance.now();
  private lastT = this.t0;
  private lastTotal = 0;

  constructor(
    private readonly io: CliIO,
    private readonly o: { label: string; unit: string; json: boolean; text: boolean },
    private readonly sample: () => ProgressSample,
  ) {}

  start(): this {
    if (this.o.json || this.o.text) this.timer = setInterval(() => this.line(), 1000);
    return this;
  }

  elapsedMs(): number {
    return performance.now() - this.t0;
  }

  private line(): void {
    const now = performance.now();
    const s = this.sample();
    const rate = Math.round(((s.total - this.lastTotal) * 1000) / Math.max(1, now - this.lastT));
    this.lastT = now;
    this.lastTotal = s.total;
    const t = Math.round((now - this.t0) / 100) / 10;
    if (this.o.json) this.io.stdout(JSON.stringify({ event: "progress", t, rate, ...s }) + "\n");
    else {
      const rest = Object.entries(s)
        .filter(([k]) => k !== "total")
        .map(([k, v]) => `${k} ${v}`)
        .join("  ");
      this.io.stderr(`${this.o.label}: ${t.toFixed(1)} s  ${rate} ${this.o.unit}/s  total ${s.total}${rest ? `  ${rest}` : ""}\n`);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Text progress by default only on a terminal. */
export function wantsTextProgress(flag: boolean | undefined): boolean {
  return flag === true || process.stderr.isTTY === true;
}

/**
 * SIGINT (Ctrl-C) or SIGTERM while a load runs: `stop()` it, and let the command report and close what
 * it opened before the process exits (local/interrupt.ts exits once `end()` was called, at most 10 s).
 */
export class LoadInterrupt {
  interrupted = false;
  private finished: () => void = () => undefined;
  private readonly release: () => void;

  constructor(stop: () => void) {
    const done = new Promise<void>((r) => (this.finished = r));
    this.release = onInterrupt(async () => {
      this.interrupted = true;
      stop();
      await done;
    });
  }

  /** The command is done (in its finally): no longer handle the signals; an interrupt in progress exits now. */
  end(): void {
    this.release();
    this.finished();
  }
}

/**
 * `dfly run`'s progress option: text on stderr on a terminal (or --progress); JSON lines on stdout
 * only with --json --progress, so that `--json` alone stays one JSON document.
 */
export function runProgress(
  io: CliIO, label: string, unit: string, json: boolean, flag: boolean,
): { progress?: (sample: () => ProgressSample) => () => void } {
  const jsonLines = json && flag;
  const text = !json && wantsTextProgress(flag);
  if (!jsonLines && !text) return {};
  return {
    progress: (sample) => {
      const p = new Progress(io, { label, unit, json: jsonLines, text }, sample).start();
      return () => p.stop();
    },
  };
}
