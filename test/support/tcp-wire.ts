/**
 * Two TCP hosts (every CPU in this thread) joined by an in-memory wire of real IPv4 frames
 * (both checksums built, verified on input), for the netisr's TCP unit tests.
 */
import { ipAddr, type ListenerPolicy, type TcpSeg } from "@dfly/core";
import { FrameBatchCursor } from "@dfly/transport";
import { TcpFrameQueue, TcpHost, type SoEvent, type TcpHostOptions } from "@dfly/netisr/internal";

export const SERVER = ipAddr("198.18.0.1");
export const CLIENT = ipAddr("198.18.0.10");

export class Wire {
  t = 0;
  readonly toServer: Uint8Array[] = [];
  readonly toClient: Uint8Array[] = [];
  frames = { toServer: 0, toClient: 0 };
  readonly server: TcpHost;
  readonly client: TcpHost;
  private readonly sq: TcpFrameQueue;
  private readonly cq: TcpFrameQueue;
  private readonly cur = new FrameBatchCursor();
  /** Segments each host processed, by CPU: [cpu, hash]. */
  readonly seen = { server: [] as [number, number][], client: [] as [number, number][] };

  constructor(ncpus: number, clientCpus = ncpus, policy?: ListenerPolicy, serverRoute?: TcpHostOptions["routeOpts"]) {
    this.sq = new TcpFrameQueue((b) => this.toClient.push(b), 64 * 1024, false);
    this.cq = new TcpFrameQueue((b) => this.toServer.push(b), 64 * 1024, false);
    const now = () => this.t;
    this.server = new TcpHost({
      ncpus,
      now,
      config: { msl: 20 },
      output: (_c, seg: TcpSeg) => this.sq.push(seg),
      ...(policy ? { policy } : {}),
      ...(serverRoute ? { routeOpts: serverRoute } : {}),
      trace: (cpu, _s, h) => this.seen.server.push([cpu, h]),
    });
    this.client = new TcpHost({
      ncpus: clientCpus,
      now,
      config: { msl: 20 },
      portFirst: 10000,
      portLast: 60000,
      output: (_c, seg: TcpSeg) => this.cq.push(seg),
      trace: (cpu, _s, h) => this.seen.client.push([cpu, h]),
    });
  }

  private feed(batches: Uint8Array[], host: TcpHost, dir: "toServer" | "toClient"): void {
    for (const b of batches.splice(0)) {
      this.cur.reset(b);
      while (this.cur.next()) {
        this.frames[dir]++;
        host.inputFrame(this.cur.buf.subarray(this.cur.offset, this.cur.offset + this.cur.length));
      }
    }
  }

  /** Delivers everything in flight (both ways) until the wire is quiet; `ms` per round. */
  pump(rounds = 50, ms = 1): void {
    for (let i = 0; i < rounds; i++) {
      this.sq.flush();
      this.cq.flush();
      if (this.toServer.length === 0 && this.toClient.length === 0) return;
      this.t += ms;
      this.feed(this.toServer, this.server, "toServer");
      this.sq.flush();
      this.feed(this.toClient, this.client, "toClient");
      this.cq.flush();
    }
  }

  /** Advances time in `step` ms ticks (timers), pumping in between. */
  advance(ms: number, step = 10): void {
    for (let t = 0; t < ms; t += step) {
      this.t += step;
      this.server.tick(this.t);
      this.client.tick(this.t);
      this.pump();
    }
  }
}

export type Ev = { fd: number; ev: SoEvent; err: string | null };

export function recorder(): { evs: Ev[]; h: (fd: number, ev: SoEvent, err: string | null) => void } {
  const evs: Ev[] = [];
  return { evs, h: (fd, ev, err) => evs.push({ fd, ev, err }) };
}

export const text = (u: Uint8Array | null) => (u === null ? null : new TextDecoder().decode(u));
export const bytes = (s: string) => new TextEncoder().encode(s);
