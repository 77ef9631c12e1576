/**
 * Servers that real clients know, on the emulated sockets (`dfly run --workload serve`):
 *
 *   - HTTP/1.1 on port 80: `GET /` (1 KB) and `GET /bytes/N` (N bytes of `dfly-netstack\n`
 *     repeated and cut at N), HEAD too; Content-Length on every response; keep-alive (HTTP/1.1
 *     by default, HTTP/1.0 with `Connection: keep-alive`) and `Connection: close`; requests on
 *     one connection are answered in order. Bodies stream from one shared pattern buffer with
 *     the send buffer's backpressure (a short send waits for WRITABLE), so a 50 MB body never
 *     exists in memory.
 *   - TCP echo (RFC 862, port 7) and discard (RFC 863, port 9).
 *
 * Each CPU runs one instance with its own SO_REUSEPORT listeners (like httpd.ts).
 */
import { INADDR_ANY } from "@dfly/core";
import { SoEvent, SockOpt, type Program, type ProgramContext, type Sockets } from "@dfly/netisr";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export const SERVE_PATTERN = "dfly-netstack\n";
export const SERVE_ROOT_SIZE = 1024;
/** Largest /bytes/N served (1 TiB: a stream, never held). */
export const SERVE_MAX_BYTES = 2 ** 40;
const MAX_HEAD = 8192;

const enc = new TextEncoder();
/** The pattern repeated to ~64 KB plus one period, so any phase has a 64 KB view. */
const PERIOD = SERVE_PATTERN.length;
const CHUNK = Math.floor(65536 / PERIOD) * PERIOD;
const PATTERN = enc.encode(SERVE_PATTERN.repeat(CHUNK / PERIOD + 1));

/** Bytes [off, off+len) of the /bytes body (len ≤ CHUNK), a view of the shared pattern. */
export function servePatternAt(off: number, len: number): Uint8Array {
  const p = off % PERIOD;
  return PATTERN.subarray(p, p + Math.min(len, CHUNK));
}

export interface ServeRequest {
  method: string;
  path: string;
  keepAlive: boolean;
}

/** Parses a request head (bytes up to and including the blank line); null when malformed. */
export function parseServeRequest(head: string): ServeRequest | null {
  const lines = head.split("\r\n");
  const m = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/.exec(lines[0] ?? "");
  if (!m) return null;
  let keepAlive = m[3] === "1";
  for (const l of lines.slice(1)) {
    const h = /^connection:\s*(.*)$/i.exec(l);
    if (!h) continue;
    const v = h[1].toLowerCase();
    if (v.includes("close")) keepAlive = false;
    else if (v.includes("keep-alive")) keepAlive = true;
  }
  return { method: m[1], path: m[2], keepAlive };
}

/** What a request gets: status and body length (the body is the pattern). */
export function serveRoute(req: ServeRequest): { status: string; length: number } {
  if (req.method !== "GET" && req.method !== "HEAD") return { status: "405 Method Not Allowed", length: 0 };
  if (req.path === "/") return { status: "200 OK", length: SERVE_ROOT_SIZE };
  const b = /^\/bytes\/(\d{1,13})$/.exec(req.path);
  if (b && Number(b[1]) <= SERVE_MAX_BYTES) return { status: "200 OK", length: Number(b[1]) };
  return { status: "404 Not Found", length: 0 };
}

export class ServeStats {
  accepted = 0;
  requests = 0;
  responses = 0;
  badRequests = 0;
  bodyBytes = 0;
  echoBytes = 0;
  discardBytes = 0;
  errors = 0;
}

const K_HTTP = 0;
const K_ECHO = 1;
const K_DISCARD = 2;

interface Conn {
  kind: number;
  /** Request bytes not yet answered (HTTP). */
  inbuf: Uint8Array | null;
  /** The response being sent: the head left, then body bytes [bodyOff, bodyLen). */
  head: Uint8Array | null;
  bodyOff: number;
  bodyLen: number;
  closeAfter: boolean;
  /** A response is being sent. */
  inResp: boolean;
  /** Echo: bytes received and not yet taken by the send buffer. */
  hold: Uint8Array | null;
  eof: boolean;
}

export interface ServeOptions {
  sockets: Sockets;
  httpPort?: number;
  echoPort?: number;
  discardPort?: number;
}

export class ServeWorker {
  readonly stats = new ServeStats();
  private readonly s: Sockets;
  private readonly conns = new Map<number, Conn>();
  private readonly listeners: number[] = [];

  constructor(private readonly o: ServeOptions) {
    this.s = o.sockets;
  }

  async start(): Promise<void> {
    const ports: [number, number][] = [
      [this.o.httpPort ?? 80, K_HTTP],
      [this.o.echoPort ?? 7, K_ECHO],
      [this.o.discardPort ?? 9, K_DISCARD],
    ];
    for (const [port, kind] of ports) {
      const fd = this.s.socket((f, ev) => {
        if (ev === SoEvent.ACCEPT) this.drainAccept(f, kind);
      });
      this.s.setsockopt(fd, SockOpt.SO_REUSEPORT, true);
      this.s.setsockopt(fd, SockOpt.TCP_NODELAY, true);
      this.s.bind(fd, INADDR_ANY, port);
      await this.s.listen(fd, -1);
      this.listeners.push(fd);
    }
  }

  private drainAccept(lfd: number, kind: number): void {
    for (;;) {
      let fd: number;
      try {
        fd = this.s.accept(lfd, (f, ev) => this.event(f, ev));
      } catch {
        return;
      }
      if (fd < 0) return;
      this.stats.accepted++;
      this.conns.set(fd, { kind, inbuf: null, head: null, bodyOff: 0, bodyLen: 0, closeAfter: false, inResp: false, hold: null, eof: false });
      this.readable(fd);
    }
  }

  private event(fd: number, ev: SoEvent): void {
    switch (ev) {
      case SoEvent.READABLE:
      case SoEvent.EOF:
        this.readable(fd);
        return;
      case SoEvent.WRITABLE:
        this.writable(fd);
        return;
      case SoEvent.ERROR:
        this.stats.errors++;
        this.close(fd);
        return;
      case SoEvent.CLOSED:
        this.conns.delete(fd);
        return;
    }
  }

  private close(fd: number): void {
    this.conns.delete(fd);
    try {
      this.s.close(fd);
    } catch {
      // already gone
    }
  }

  private readable(fd: number): void {
    const c = this.conns.get(fd);
    if (!c) return;
    // While a response or echo is waiting for room, leave the data in the receive buffer:
    // the window closes and the peer waits (flow control instead of memory).
    while (!c.inResp && c.hold === null && !c.eof) {
      let b: Uint8Array | null;
      try {
        b = this.s.recv(fd);
      } catch {
        this.stats.errors++;
        this.close(fd);
        return;
      }
      if (b === null) {
        c.eof = true;
        break;
      }
      if (b.length === 0) return;
      if (c.kind === K_DISCARD) this.stats.discardBytes += b.length;
      else if (c.kind === K_ECHO) {
        this.stats.echoBytes += b.length;
        c.hold = b;
        this.writable(fd);
      } else {
        c.inbuf = c.inbuf ? concat(c.inbuf, b) : b;
        this.nextRequest(fd, c);
      }
      if (!this.conns.has(fd)) return;
    }
    if (c.eof && !c.inResp && c.hold === null) this.close(fd);
  }

  /** Starts answering the next complete request in `inbuf`, if any. */
  private nextRequest(fd: number, c: Conn): void {
    const b = c.inbuf;
    if (!b) return;
    const end = headerEnd(b);
    if (end < 0) {
      if (b.length > MAX_HEAD) {
        this.stats.badRequests++;
        this.respond(fd, c, "431 Request Header Fields Too Large", 0, false, false);
      }
      return;
    }
    c.inbuf = end < b.length ? b.slice(end) : null;
    this.stats.requests++;
    const req = parseServeRequest(new TextDecoder("latin1").decode(b.subarray(0, end - 4)));
    if (!req) {
      this.stats.badRequests++;
      this.respond(fd, c, "400 Bad Request", 0, false, false);
      return;
    }
    const r = serveRoute(req);
    this.respond(fd, c, r.status, r.length, req.keepAlive, req.method === "HEAD");
  }

  private respond(fd: number, c: Conn, status: string, length: number, keepAlive: boolean, headOnly: boolean): void {
    c.head = enc.encode(
      `HTTP/1.1 ${status}\r\nServer: dfly-httpd\r\nContent-Type: text/plain\r\nContent-Length: ${length}\r\n` +
        `Connection: ${keepAlive ? "keep-alive" : "close"}\r\n\r\n`,
    );
    c.bodyOff = 0;
    c.bodyLen = headOnly ? 0 : length;
    c.closeAfter = !keepAlive;
    c.inResp = true;
    this.writable(fd);
  }

  /** Moves what waits into the send buffer as far as it takes it. */
  private writable(fd: number): void {
    const c = this.conns.get(fd);
    if (!c) return;
    try {
      if (c.hold) {
        const n = this.s.send(fd, c.hold);
        c.hold = n < c.hold.length ? c.hold.subarray(n) : null;
        if (c.hold) return;
      }
      if (c.head) {
        const n = this.s.send(fd, c.head);
        c.head = n < c.head.length ? c.head.subarray(n) : null;
        if (c.head) return;
      }
      while (c.bodyOff < c.bodyLen) {
        const chunk = servePatternAt(c.bodyOff, c.bodyLen - c.bodyOff);
        const n = this.s.send(fd, chunk);
        c.bodyOff += n;
        this.stats.bodyBytes += n;
        if (n < chunk.length) return;
      }
    } catch {
      this.stats.errors++;
      this.close(fd);
      return;
    }
    if (c.inResp) {
      c.inResp = false;
      this.stats.responses++;
      if (c.closeAfter) {
        this.close(fd);
        return;
      }
    }
    // The next request (already here, or still in the receive buffer).
    if (c.kind === K_HTTP && c.inbuf) this.nextRequest(fd, c);
    if (this.conns.has(fd) && !c.inResp) this.readable(fd);
  }

  shutdownAll(): void {
    this.s.shutdownAll();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function headerEnd(b: Uint8Array): number {
  for (let i = 3; i < b.length; i++) if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) return i + 1;
  return -1;
}

/** The servers as a netisr-thread program; the parent calls "listen" on each CPU in order. */
export function serveProgram(ctx: ProgramContext): Program {
  const w = new ServeWorker({ sockets: ctx.tcp.sockets(`serve-${ctx.cpu}`) });
  const snapshot = () => ({ ...w.stats });
  return {
    snapshot,
    call: async (method) => {
      if (method === "listen") return w.start();
      if (method === "stats") return snapshot();
      throw new Error(`serve: no method ${method}`);
    },
    stop: () => w.shutdownAll(),
  };
}

/** Path of the compiled module that exports `serveProgram`. */
export function serveProgramModule(): string {
  const index = createRequire(import.meta.url).resolve("@dfly/apps");
  const p = join(dirname(index), "serve.js");
  if (!existsSync(p)) throw new Error(`${p} is missing: run "make build" (netisr workers load compiled JavaScript)`);
  return p;
}
