/**
 * The HTTP short-connection load (the client boxes of the paper's §1.9 test): an emulated
 * client *host* on the wire side with its own CPUs and TCP engines (the same host stack as
 * the server, `TcpHost` with every CPU in this thread), and C concurrent clients, each doing
 * one request per connection in a closed loop:
 *
 *   connect → GET → read the response (headers + Content-Length) → the server's FIN → close
 *
 * Client i runs on client CPU i mod cpus; connect() searches a local port whose hash lands
 * on that CPU and otherwise migrates the connection (counted). Frames to the server leave
 * in batches through `send` (the wire toward the server's NIC); frames from the server come
 * in through `rxBatch`/`rxFrame` and are processed on the CPU their hash names.
 *
 * Latency is connect() to the last byte of the response, in a log-linear histogram (16
 * sub-buckets per power of two, ≤ 6 % error). Errors are counted by errno name.
 */
import { FrameBatchCursor } from "@dfly/transport";
import { formatRouteAddress, type TcpConfig, type TcpSeg } from "@dfly/core";
import { SoEvent, Sockets, TcpFrameQueue, TcpHost, type ListenBackend } from "@dfly/netisr";

/** Latency histogram in µs: values < 16 exact, then 16 sub-buckets per power of two. */
export class LatencyHistogram {
  readonly counts = new Float64Array(16 * 30);
  count = 0;
  sum = 0;
  min = Infinity;
  max = 0;

  static index(us: number): number {
    const v = us < 1 ? 0 : Math.min(Math.floor(us), 0x3fffffff);
    if (v < 16) return v;
    const e = 31 - Math.clz32(v);
    return (e - 3) * 16 + ((v >>> (e - 4)) & 15);
  }

  /** Upper bound (µs) of bucket `i`. */
  static upper(i: number): number {
    if (i < 16) return i + 1;
    const e = (i >> 4) + 3;
    return (17 + (i & 15)) * 2 ** (e - 4);
  }

  record(us: number): void {
    this.counts[LatencyHistogram.index(us)]++;
    this.count++;
    this.sum += us;
    if (us < this.min) this.min = us;
    if (us > this.max) this.max = us;
  }

  /** The value below which a fraction `q` of the samples lie (bucket upper bound, µs). */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const want = Math.max(1, Math.ceil(q * this.count));
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      acc += this.counts[i];
      if (acc >= want) return Math.min(LatencyHistogram.upper(i), this.max);
    }
    return this.max;
  }

  merge(o: LatencyHistogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += o.counts[i];
    this.count += o.count;
    this.sum += o.sum;
    this.min = Math.min(this.min, o.min);
    this.max = Math.max(this.max, o.max);
  }

  summary(): LatencySummary {
    if (this.count === 0) return { count: 0, avgMs: 0, p50Ms: 0, p99Ms: 0, minMs: 0, maxMs: 0 };
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: this.count,
      avgMs: ms(this.sum / this.count),
      p50Ms: ms(this.quantile(0.5)),
      p99Ms: ms(this.quantile(0.99)),
      minMs: ms(this.min),
      maxMs: ms(this.max),
    };
  }
}

export interface LatencySummary {
  count: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
  minMs: number;
  maxMs: number;
}

export interface HttpClientHostOptions {
  /** Client host CPUs (default 1). */
  cpus?: number;
  /** Concurrent clients (connections in flight). */
  clients: number;
  /** Server address and port. */
  server: number;
  port?: number;
  /** The client host's source addresses (connections spread over them). */
  addrs: readonly number[];
  /** TCP knobs (the paper's test set MSL to 20 ms on both sides). */
  config?: Partial<TcpConfig>;
  /** A batch of frames toward the server (the buffer is handed over). */
  send: (batch: Uint8Array) => void;
  now?: () => number;
  /** Request path (default "/index.html"). */
  path?: string;
  /** Ephemeral ports (default 1024..65535). */
  portFirst?: number;
  portLast?: number;
  /** Listen backend (only needed if the client host itself listens; tests). */
  listen?: ListenBackend;
  /** Test hook: every segment a client CPU processes. */
  trace?: (cpu: number, seg: TcpSeg, hash: number) => void;
}

export class HttpClientStats {
  /** Connections opened. */
  started = 0;
  /** Complete responses (200 with the whole body). */
  completed = 0;
  /** Response bytes read (headers and bodies). */
  bytes = 0;
  /** Failures by reason (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EADDRNOTAVAIL, short, status_NNN, …). */
  readonly errors: Record<string, number> = {};
  get errorCount(): number {
    let n = 0;
    for (const v of Object.values(this.errors)) n += v;
    return n;
  }
}

const S_IDLE = 0;
const S_CONNECTING = 1;
const S_RESPONSE = 2;
const S_DONE = 3;

class Client {
  fd = -1;
  state = S_IDLE;
  t0 = 0;
  /** Header bytes received so far, until the blank line (null once parsed). */
  head: Uint8Array | null = NOHEAD;
  need = -1;
  got = 0;
  status = 0;
  gen = 0;
  constructor(
    readonly index: number,
    readonly cpu: number,
  ) {}
}

const enc = new TextEncoder();
const NOHEAD = new Uint8Array(0);
const CONTENT_LENGTH = enc.encode("content-length:");

/** Index just past the first CRLFCRLF, or -1. */
function headerEnd(b: Uint8Array): number {
  for (let i = 3; i < b.length; i++) if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) return i + 1;
  return -1;
}

/** Status code of "HTTP/1.x NNN …" (0 if malformed) and the Content-Length (-1 if none). */
export function parseResponseHead(b: Uint8Array, end: number): { status: number; length: number } {
  let status = 0;
  if (end >= 12 && b[0] === 0x48 && b[1] === 0x54 && b[2] === 0x54 && b[3] === 0x50 && b[4] === 0x2f && b[5] === 0x31 && b[6] === 0x2e && b[8] === 0x20) {
    const d0 = b[9] - 48;
    const d1 = b[10] - 48;
    const d2 = b[11] - 48;
    if (d0 >= 0 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) status = d0 * 100 + d1 * 10 + d2;
  }
  let length = -1;
  for (let i = 0; i + 1 < end; i++) {
    if (b[i] !== 13 || b[i + 1] !== 10) continue;
    let j = i + 2;
    let k = 0;
    while (k < CONTENT_LENGTH.length && j + k < end && (b[j + k] | 0x20) === CONTENT_LENGTH[k]) k++;
    if (k !== CONTENT_LENGTH.length) continue;
    j += k;
    while (j < end && (b[j] === 0x20 || b[j] === 9)) j++;
    let v = 0;
    let digits = 0;
    while (j < end && b[j] >= 48 && b[j] <= 57 && digits < 15) {
      v = v * 10 + (b[j] - 48);
      j++;
      digits++;
    }
    if (digits > 0) length = v;
    break;
  }
  return { status, length };
}

export class HttpClientHost {
  readonly host: TcpHost;
  readonly sockets: Sockets[];
  stats = new HttpClientStats();
  latency = new LatencyHistogram();
  readonly ncpus: number;
  private readonly o: HttpClientHostOptions;
  private readonly clients: Client[] = [];
  private readonly request: Uint8Array;
  readonly out: TcpFrameQueue;
  private readonly cursor = new FrameBatchCursor();
  private addrNext = 0;
  private running = false;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private retry: Client[] = [];
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(o: HttpClientHostOptions) {
    if (!Number.isInteger(o.clients) || o.clients < 1 || o.clients > 1_000_000) throw new RangeError(`clients ${o.clients}: want 1..1000000`);
    if (o.addrs.length === 0) throw new RangeError("the client host needs at least one address");
    this.o = o;
    this.ncpus = o.cpus ?? 1;
    this.out = new TcpFrameQueue(o.send);
    this.host = new TcpHost({
      ncpus: this.ncpus,
      ...(o.config ? { config: o.config } : {}),
      output: (_cpu, seg) => this.out.push(seg),
      lendSegs: true,
      ...(o.now ? { now: o.now } : {}),
      portFirst: o.portFirst ?? 1024,
      portLast: o.portLast ?? 65535,
      ...(o.trace ? { trace: o.trace } : {}),
    });
    const source = () => o.addrs[this.addrNext++ % o.addrs.length];
    this.sockets = Array.from(
      { length: this.ncpus },
      (_, cpu) => new Sockets({ host: this.host, cpu, owner: `httpclient-${cpu}`, source, ...(o.listen ? { listen: o.listen } : {}) }),
    );
    const host = formatRouteAddress(o.server);
    this.request = enc.encode(`GET ${o.path ?? "/index.html"} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: dfly-httpclient\r\nAccept: */*\r\nConnection: close\r\n\r\n`);
    for (let i = 0; i < o.clients; i++) this.clients.push(new Client(i, i % this.ncpus));
  }

  /** Sends what is queued now (also done automatically after each burst of work). */
  flush(): void {
    this.out.flush();
  }

  /** A batch of frames from the server side. */
  rxBatch(batch: Uint8Array): void {
    this.host.inputBatch(batch, this.cursor);
  }

  rxFrame(frame: Uint8Array): void {
    this.host.inputFrame(frame);
  }

  /** Timers (retransmissions, delayed ACKs, TIME_WAIT) of every client CPU. */
  tick(now = this.host.now()): void {
    this.host.tick(now);
  }

  /** Starts (or resumes) the closed loop of every client. */
  start(): void {
    this.running = true;
    for (const c of this.clients) if (c.state === S_IDLE || c.state === S_DONE) this.next(c);
  }

  /** No new connections; resolves when every connection in flight has finished (or after `timeoutMs`). */
  stop(timeoutMs = 5000): Promise<boolean> {
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retry = [];
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((res) => {
      const t = setTimeout(() => res(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        res(true);
      });
    });
  }

  /** Starts the measurement over (after a warm-up): counters and latencies of what completes from now on. */
  resetStats(): void {
    this.stats = new HttpClientStats();
    this.latency = new LatencyHistogram();
  }

  get active(): number {
    return this.inFlight;
  }

  private next(c: Client): void {
    if (!this.running) {
      c.state = S_DONE;
      return;
    }
    const s = this.sockets[c.cpu];
    const gen = ++c.gen;
    const fd = s.socket((f, ev, err) => this.event(c, gen, f, ev, err));
    c.fd = fd;
    c.state = S_CONNECTING;
    c.head = NOHEAD;
    c.need = -1;
    c.got = 0;
    c.status = 0;
    c.t0 = this.host.now();
    try {
      s.connect(fd, this.o.server, this.o.port ?? 80);
    } catch (err) {
      s.close(fd);
      c.state = S_IDLE;
      this.fail(c, (err as { name?: string }).name === "InpcbAddrNotAvailError" ? "EADDRNOTAVAIL" : (err as Error).name, false);
      this.retryLater(c);
      return;
    }
    this.stats.started++;
    this.inFlight++;
  }

  private retryLater(c: Client): void {
    if (!this.running) return;
    this.retry.push(c);
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const l = this.retry;
      this.retry = [];
      for (const x of l) this.next(x);
    }, 5);
  }

  private fail(c: Client, reason: string, inFlight: boolean): void {
    this.stats.errors[reason] = (this.stats.errors[reason] ?? 0) + 1;
    if (inFlight) this.finish(c);
  }

  private finish(c: Client): void {
    c.state = S_DONE;
    this.inFlight--;
    if (this.running) this.next(c);
    else if (this.inFlight === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  private closeFd(c: Client): void {
    const s = this.sockets[c.cpu];
    try {
      s.close(c.fd);
    } catch {
      // already released
    }
    c.fd = -1;
  }

  private event(c: Client, gen: number, fd: number, ev: SoEvent, err: string | null): void {
    if (gen !== c.gen || c.fd !== fd || c.state === S_DONE || c.state === S_IDLE) return;
    const s = this.sockets[c.cpu];
    switch (ev) {
      case SoEvent.CONNECTED: {
        c.state = S_RESPONSE;
        s.send(fd, this.request);
        return;
      }
      case SoEvent.READABLE:
      case SoEvent.EOF:
        this.read(c, s, fd);
        return;
      case SoEvent.ERROR:
        this.closeFd(c);
        this.fail(c, err ?? "ECONNRESET", true);
        return;
      case SoEvent.CLOSED:
        this.closeFd(c);
        this.fail(c, err ?? "closed", true);
        return;
    }
  }

  private read(c: Client, s: Sockets, fd: number): void {
    for (;;) {
      let b: Uint8Array | null;
      try {
        b = s.recv(fd);
      } catch (err) {
        this.closeFd(c);
        this.fail(c, (err as { code?: string }).code ?? "ECONNRESET", true);
        return;
      }
      if (b === null) {
        // The server's FIN: the response must be complete by now.
        const ok = c.need >= 0 && c.got >= c.need && c.status === 200;
        this.closeFd(c);
        if (ok) {
          this.stats.completed++;
          this.finish(c);
        } else this.fail(c, c.status && c.status !== 200 ? `status_${c.status}` : "short", true);
        return;
      }
      if (b.length === 0) return;
      this.stats.bytes += b.length;
      let i = 0;
      if (c.head !== null) {
        let h = b;
        if (c.head.length > 0) {
          h = new Uint8Array(c.head.length + b.length);
          h.set(c.head, 0);
          h.set(b, c.head.length);
        }
        const end = headerEnd(h);
        if (end < 0) {
          if (h.length > 16384) {
            this.closeFd(c);
            this.fail(c, "bad_header", true);
            return;
          }
          c.head = h === b ? b.slice() : h;
          continue;
        }
        const r = parseResponseHead(h, end);
        c.status = r.status;
        c.need = r.length;
        c.head = null;
        i = end - (h.length - b.length); // where the body starts in b
      }
      if (c.head === null) {
        c.got += b.length - i;
        if (c.need >= 0 && c.got >= c.need && c.t0 >= 0) {
          this.latency.record((this.host.now() - c.t0) * 1000);
          c.t0 = -1;
        }
      }
    }
  }

  /** Segments processed / sent and connect placement counters over the client CPUs. */
  counters(): { segsIn: number; segsOut: number; wrongcpu: number; connectLocal: number; connectMigrations: number } {
    let segsIn = 0;
    let segsOut = 0;
    let wrongcpu = 0;
    let connectLocal = 0;
    let connectMigrations = 0;
    for (let i = 0; i < this.ncpus; i++) {
      const s = this.host.cpu(i).stats;
      segsIn += s.segsIn;
      segsOut += s.segsOut;
      wrongcpu += s.wrongcpu;
      connectLocal += this.host.pcb.stats[i].connectLocal;
      connectMigrations += this.host.pcb.stats[i].connectMigrations;
    }
    return { segsIn, segsOut, wrongcpu, connectLocal, connectMigrations };
  }

  /** Aborts every connection still open. */
  close(): void {
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const s of this.sockets) s.shutdownAll();
  }
}
