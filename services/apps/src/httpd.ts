/**
 * httpd: an nginx-like HTTP/1.1 server on the emulated sockets, the server side of the
 * paper's §1.9 benchmark (nginx serving a 1 KB object, one request per connection).
 *
 * Like nginx with `reuseport`, each worker has its own SO_REUSEPORT listener on the same
 * address and port; the stack spreads SYNs over the group by hash ((h & 127) % workers), so
 * with one worker per CPU (the worker runs on that CPU, `Sockets` homed there) a worker
 * accepts only the connections its own CPU handled. Every response is the same object with
 * `Connection: close`; the server closes after sending it (the side that closes first holds
 * TIME_WAIT, as nginx does).
 *
 * A worker can close its listener while it runs (an nginx reload, a worker exit): the stack
 * hands the listener's queued and half-open connections to the heir (DragonFly) or resets
 * them (Linux); the worker keeps serving what it already accepted.
 */
import { INADDR_ANY, type ListenerPolicy, type TcpConfig, type TcpSeg } from "@dfly/core";
import { FrameBatchCursor } from "@dfly/transport";
import {
  HostListenBackend,
  SoEvent,
  SockOpt,
  Sockets,
  TcpFrameQueue,
  TcpHost,
  type ListenCloseReply,
  type ListenReply,
  type Program,
  type ProgramContext,
} from "@dfly/netisr";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export const HTTPD_OBJECT_SIZE = 1024;
/** Requests longer than this (headers) are answered 431 and closed. */
export const HTTPD_MAX_REQUEST = 8192;

export interface HttpdWorkerOptions {
  sockets: Sockets;
  /** Listen address (default INADDR_ANY) and port (default 80). */
  laddr?: number;
  port?: number;
  /** listen(2) backlog (default -1: somaxconn). */
  backlog?: number;
  /** Size of the object served (default 1024). */
  objectSize?: number;
  /** TCP_NODELAY on accepted sockets (nginx sets it; default true). */
  nodelay?: boolean;
  /**
   * Synchronous sends (the paper's comparison, §2.4): wait until the socket's CPU took the
   * response before closing. Default asynchronous (send returns at once).
   */
  syncSend?: boolean;
  /** SO_REUSEPORT on the listener (default true; false: one listener for every worker, nginx without `reuseport`). */
  reuseport?: boolean;
}

export class HttpdStats {
  accepted = 0;
  requests = 0;
  responses = 0;
  badRequests = 0;
  /** Connections that ended with an error (reset by the peer, …). */
  errors = 0;
  /** Connections closed by the peer before a complete request. */
  aborted = 0;
}

function findHeaderEnd(b: Uint8Array, n = b.length): number {
  for (let i = 3; i < n; i++) {
    if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) return i + 1;
  }
  return -1;
}

/** The response every request gets: status line, headers, the object. */
export function httpdResponse(objectSize = HTTPD_OBJECT_SIZE, status = "200 OK"): Uint8Array {
  const head = `HTTP/1.1 ${status}\r\nServer: dfly-httpd\r\nContent-Type: application/octet-stream\r\nContent-Length: ${objectSize}\r\nConnection: close\r\n\r\n`;
  const h = new TextEncoder().encode(head);
  const out = new Uint8Array(h.length + objectSize);
  out.set(h, 0);
  for (let i = 0; i < objectSize; i++) out[h.length + i] = 0x61 + (i % 26);
  return out;
}

export class HttpdWorker {
  readonly stats = new HttpdStats();
  readonly sockets: Sockets;
  private readonly o: HttpdWorkerOptions;
  private readonly response: Uint8Array;
  private readonly bad: Uint8Array;
  private readonly tooLarge: Uint8Array;
  /** Partial requests by fd (only while a request spans several segments). */
  private readonly partial = new Map<number, Uint8Array>();
  /** Requests are read into this (recvInto), not into a chunk per segment. */
  private readonly rbuf = new Uint8Array(16384);
  private lfd = -1;
  /** The listener's id and SO_REUSEPORT slot once listening. */
  listen: ListenReply | undefined;
  /** The last connection error seen (errno name). */
  lastError: string | null = null;
  private readonly onConn = (fd: number, ev: SoEvent, err: string | null) => this.connEvent(fd, ev, err);

  constructor(o: HttpdWorkerOptions) {
    this.o = o;
    this.sockets = o.sockets;
    this.response = httpdResponse(o.objectSize ?? HTTPD_OBJECT_SIZE);
    this.bad = httpdResponse(0, "400 Bad Request");
    this.tooLarge = httpdResponse(0, "431 Request Header Fields Too Large");
  }

  /** socket + SO_REUSEPORT + bind + listen. */
  async start(): Promise<ListenReply> {
    const s = this.sockets;
    const fd = s.socket((f, ev) => this.listenEvent(f, ev));
    if (this.o.reuseport !== false) s.setsockopt(fd, SockOpt.SO_REUSEPORT, true);
    if (this.o.nodelay !== false) s.setsockopt(fd, SockOpt.TCP_NODELAY, true);
    s.bind(fd, this.o.laddr ?? INADDR_ANY, this.o.port ?? 80);
    this.lfd = fd;
    this.listen = await s.listen(fd, this.o.backlog ?? -1);
    return this.listen;
  }

  /** Whether the listener is open. */
  get listening(): boolean {
    return this.lfd >= 0;
  }

  /** Closes the listener (the worker keeps serving what it accepted). */
  closeListener(): Promise<ListenCloseReply> {
    if (this.lfd < 0) return Promise.reject(new Error("httpd worker is not listening"));
    const fd = this.lfd;
    const p = this.sockets.close(fd);
    // Connections fetched from other CPUs before the close are still handed out by accept().
    this.drainAccept(fd);
    return p!;
  }

  private listenEvent(fd: number, ev: SoEvent): void {
    if (ev === SoEvent.ACCEPT) this.drainAccept(fd);
    else if (ev === SoEvent.CLOSED && fd === this.lfd) this.lfd = -1;
  }

  private drainAccept(fd: number): void {
    const s = this.sockets;
    for (;;) {
      let c: number;
      try {
        c = s.accept(fd, this.onConn);
      } catch {
        return; // closed meanwhile
      }
      if (c < 0) return;
      this.stats.accepted++;
      // The request may already be here (it can ride on the handshake's last ACK).
      this.readRequest(c);
    }
  }

  private connEvent(fd: number, ev: SoEvent, err: string | null): void {
    switch (ev) {
      case SoEvent.READABLE:
      case SoEvent.EOF:
        this.readRequest(fd);
        return;
      case SoEvent.ERROR:
        this.stats.errors++;
        this.partial.delete(fd);
        this.lastError = err;
        this.safeClose(fd);
        return;
      case SoEvent.CLOSED:
        this.partial.delete(fd);
        return;
    }
  }

  private readRequest(fd: number): void {
    const s = this.sockets;
    const rb = this.rbuf;
    for (;;) {
      // recvInto copies into the server's own buffer: no chunk or view per segment.
      let n: number;
      try {
        n = s.recvInto(fd, rb);
      } catch {
        this.stats.errors++;
        this.partial.delete(fd);
        this.safeClose(fd);
        return;
      }
      if (n < 0) {
        // Peer closed without (the rest of) a request.
        this.stats.aborted++;
        this.partial.delete(fd);
        this.safeClose(fd);
        return;
      }
      if (n === 0) return;
      const prev = this.partial.get(fd);
      let req = rb;
      let len = n;
      if (prev) {
        req = new Uint8Array(prev.length + n);
        req.set(prev, 0);
        req.set(rb.subarray(0, n), prev.length);
        len = req.length;
      }
      const end = findHeaderEnd(req, len);
      if (end < 0) {
        if (len > HTTPD_MAX_REQUEST) {
          this.stats.badRequests++;
          this.partial.delete(fd);
          this.respond(fd, this.tooLarge);
          return;
        }
        this.partial.set(fd, prev ? req : req.slice(0, len));
        continue;
      }
      this.partial.delete(fd);
      this.stats.requests++;
      // GET or HEAD, HTTP/1.x; anything else is a bad request.
      const ok = (req[0] === 0x47 && req[1] === 0x45 && req[2] === 0x54 && req[3] === 0x20) ||
        (req[0] === 0x48 && req[1] === 0x45 && req[2] === 0x41 && req[3] === 0x44 && req[4] === 0x20);
      if (!ok) {
        this.stats.badRequests++;
        this.respond(fd, this.bad);
        return;
      }
      this.respond(fd, this.response);
      return;
    }
  }

  private respond(fd: number, body: Uint8Array): void {
    const s = this.sockets;
    if (this.o.syncSend) {
      s.sendSync(fd, body).then(
        (n) => {
          if (n === body.length) this.stats.responses++;
          else this.stats.errors++;
          this.safeClose(fd);
        },
        () => {
          this.stats.errors++;
          this.safeClose(fd);
        },
      );
      return;
    }
    try {
      const n = s.send(fd, body);
      if (n === body.length) this.stats.responses++;
      else this.stats.errors++; // 1 KB always fits a fresh send buffer; a short count is a bug
    } catch {
      this.stats.errors++;
    }
    this.safeClose(fd);
  }

  private safeClose(fd: number): void {
    try {
      this.sockets.close(fd);
    } catch {
      // already closed
    }
  }
}

export interface HttpServerHostOptions {
  /** The host's CPUs. */
  cpus: number;
  /** httpd workers (default one per CPU); worker w runs on CPU w mod cpus. */
  workers?: number;
  port?: number;
  config?: Partial<TcpConfig>;
  /** Frames toward the clients (the buffer is handed over). */
  send: (batch: Uint8Array) => void;
  now?: () => number;
  policy?: ListenerPolicy;
  somaxconn?: number;
  objectSize?: number;
  trace?: (cpu: number, seg: TcpSeg, hash: number) => void;
}

/**
 * A whole server host in this thread: every CPU's TCP (one `TcpHost`) and one httpd worker
 * per CPU, each homed on its CPU with its own SO_REUSEPORT listener. The in-memory
 * baseline and tests use it; the embedded and NATS modes run the same worker inside each
 * netisr CPU instead.
 */
export class HttpServerHost {
  readonly host: TcpHost;
  readonly workers: HttpdWorker[] = [];
  readonly out: TcpFrameQueue;
  private readonly cursor = new FrameBatchCursor();

  constructor(o: HttpServerHostOptions) {
    this.out = new TcpFrameQueue(o.send);
    this.host = new TcpHost({
      ncpus: o.cpus,
      ...(o.config ? { config: o.config } : {}),
      output: (_cpu, seg) => this.out.push(seg),
      lendSegs: true,
      ...(o.now ? { now: o.now } : {}),
      ...(o.policy ? { policy: o.policy } : {}),
      ...(o.somaxconn !== undefined ? { somaxconn: o.somaxconn } : {}),
      ...(o.trace ? { trace: o.trace } : {}),
    });
    const backend = new HostListenBackend(this.host);
    const n = o.workers ?? o.cpus;
    for (let w = 0; w < n; w++) {
      const sockets = new Sockets({ host: this.host, cpu: w % o.cpus, owner: `httpd-${w}`, listen: backend });
      this.workers.push(new HttpdWorker({ sockets, ...(o.port !== undefined ? { port: o.port } : {}), ...(o.objectSize !== undefined ? { objectSize: o.objectSize } : {}) }));
    }
  }

  /** Every worker listens (in order, so worker w gets SO_REUSEPORT slot w). */
  async start(): Promise<void> {
    for (const w of this.workers) await w.start();
  }

  rxBatch(batch: Uint8Array): void {
    this.host.inputBatch(batch, this.cursor);
  }

  tick(now = this.host.now()): void {
    this.host.tick(now);
  }

  flush(): void {
    this.out.flush();
  }

  /** httpd counters summed over the workers. */
  totals(): HttpdStats {
    const t = new HttpdStats();
    for (const w of this.workers) {
      t.accepted += w.stats.accepted;
      t.requests += w.stats.requests;
      t.responses += w.stats.responses;
      t.badRequests += w.stats.badRequests;
      t.errors += w.stats.errors;
      t.aborted += w.stats.aborted;
    }
    return t;
  }
}

export interface HttpdProgramOptions {
  port?: number;
  objectSize?: number;
  backlog?: number;
  /** Listen at once (default false: the parent calls "listen" on each CPU in order, so worker w gets SO_REUSEPORT slot w). */
  listenNow?: boolean;
  syncSend?: boolean;
  reuseport?: boolean;
}

/**
 * The httpd worker as a netisr-thread program (embedded mode): one worker on this CPU, its
 * sockets homed here (owner `httpd-<cpu>`). Methods for the parent: "listen",
 * "closeListener", "stats".
 */
export async function httpdProgram(ctx: ProgramContext): Promise<Program> {
  const o = (ctx.options ?? {}) as HttpdProgramOptions;
  const w = new HttpdWorker({
    sockets: ctx.tcp.sockets(`httpd-${ctx.cpu}`),
    ...(o.port !== undefined ? { port: o.port } : {}),
    ...(o.objectSize !== undefined ? { objectSize: o.objectSize } : {}),
    ...(o.backlog !== undefined ? { backlog: o.backlog } : {}),
    ...(o.syncSend ? { syncSend: true } : {}),
    ...(o.reuseport === false ? { reuseport: false } : {}),
  });
  if (o.listenNow) await w.start();
  const snapshot = () => ({ ...w.stats, listening: w.listening, listener: w.listen ?? null, open: w.sockets.open });
  return {
    snapshot,
    call: async (method) => {
      if (method === "listen") return w.start();
      if (method === "closeListener") return w.closeListener();
      if (method === "stats") return snapshot();
      throw new Error(`httpd: no method ${method}`);
    },
    stop: () => w.sockets.shutdownAll(),
  };
}

/** Path of the compiled module that exports `httpdProgram` (what a netisr worker imports). */
export function httpdProgramModule(): string {
  const index = createRequire(import.meta.url).resolve("@dfly/apps");
  const p = join(dirname(index), "httpd.js");
  if (!existsSync(p)) throw new Error(`${p} is missing: run "make build" (netisr workers load compiled JavaScript)`);
  return p;
}
