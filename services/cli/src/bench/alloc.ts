/**
 * Bytes allocated on the JavaScript heap per packet and per TCP segment: V8's sampling heap
 * profiler (HeapProfiler.startSampling through node:inspector) with the objects that minor
 * and major GCs collected included, so the sum is an estimate of everything allocated in the
 * window, not of what survived it. Worker threads (the netisr CPUs) are sampled through the
 * inspector's NodeWorker domain, from this thread, without their cooperation.
 *
 * What is not counted: ArrayBuffer backing stores (frame batches live outside the JS heap).
 */
import { Session } from "node:inspector";
import { ipAddr } from "@dfly/core";
import { HostListenBackend, SockOpt, Sockets, SoEvent, TcpFrameQueue, TcpHost } from "@dfly/netisr";
import { FrameBatchCursor } from "@dfly/transport";

/** Sampling interval (bytes): the profiler's mean distance between samples. */
export const ALLOC_SAMPLE_BYTES = 512;

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

export interface AllocSite {
  site: string;
  bytes: number;
}

export interface AllocSample {
  /** Estimated bytes allocated in this thread during the window. */
  main: number;
  /** The same per worker thread, in the order they were attached. */
  workers: number[];
  /** The largest allocation sites over all sampled threads. */
  top: AllocSite[];
}

const frameName = (f: ProfileNode["callFrame"]): string => `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;

/** Total bytes of a profile; each site is named by its function and its caller's. */
function sumProfile(head: ProfileNode, sites: Map<string, number>): number {
  let total = 0;
  const walk = (n: ProfileNode, caller: string) => {
    const name = frameName(n.callFrame);
    if (n.selfSize > 0) {
      total += n.selfSize;
      const key = `${name} < ${caller}`;
      sites.set(key, (sites.get(key) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, name);
  };
  walk(head, "");
  return total;
}

/**
 * Samples allocations in this thread and, with `workers`, in every worker thread of the
 * process, from `start()` to `stop()`.
 */
export class AllocSampler {
  private readonly s = new Session();
  private readonly workerSessions: string[] = [];
  private readonly pending = new Map<number, (m: { result?: unknown; error?: { message: string } }) => void>();
  private nextId = 1;

  private constructor(private readonly withWorkers: boolean) {
    this.s.connect();
    this.s.on("NodeWorker.attachedToWorker", (m: { params: { sessionId: string } }) => this.workerSessions.push(m.params.sessionId));
    this.s.on("NodeWorker.receivedMessageFromWorker", (m: { params: { message: string } }) => {
      const msg = JSON.parse(m.params.message) as { id?: number; result?: unknown; error?: { message: string } };
      if (msg.id === undefined) return;
      const f = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      f?.(msg);
    });
  }

  private post<T>(method: string, params: object = {}): Promise<T> {
    return new Promise((res, rej) => this.s.post(method, params, (err, r) => (err ? rej(err) : res(r as T))));
  }

  private workerPost<T>(sessionId: string, method: string, params: object = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise((res, rej) => {
      this.pending.set(id, (m) => (m.error ? rej(new Error(`${method}: ${m.error.message}`)) : res(m.result as T)));
      this.s.post("NodeWorker.sendMessageToWorker", { sessionId, message: JSON.stringify({ id, method, params }) });
    });
  }

  static async start(o: { workers?: boolean; intervalBytes?: number } = {}): Promise<AllocSampler> {
    const a = new AllocSampler(o.workers === true);
    const params = { samplingInterval: o.intervalBytes ?? ALLOC_SAMPLE_BYTES, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true };
    if (a.withWorkers) {
      await a.post("NodeWorker.enable", { waitForDebuggerOnStart: false });
      // attachedToWorker arrives for each running worker right after enable.
      await new Promise((r) => setTimeout(r, 50));
      for (const sid of a.workerSessions) {
        await a.workerPost(sid, "HeapProfiler.enable");
        await a.workerPost(sid, "HeapProfiler.startSampling", params);
      }
    }
    await a.post("HeapProfiler.enable");
    await a.post("HeapProfiler.startSampling", params);
    return a;
  }

  async stop(topN = 12): Promise<AllocSample> {
    const sites = new Map<string, number>();
    const { profile } = await this.post<{ profile: { head: ProfileNode } }>("HeapProfiler.stopSampling");
    const main = sumProfile(profile.head, sites);
    const workers: number[] = [];
    for (const sid of this.workerSessions) {
      const r = await this.workerPost<{ profile: { head: ProfileNode } }>(sid, "HeapProfiler.stopSampling");
      workers.push(sumProfile(r.profile.head, sites));
    }
    if (this.withWorkers) await this.post("NodeWorker.disable");
    this.s.disconnect();
    const top = [...sites].sort((a, b) => b[1] - a[1]).slice(0, topN).map(([site, bytes]) => ({ site, bytes: Math.round(bytes) }));
    return { main: Math.round(main), workers: workers.map(Math.round), top };
  }
}

export interface TcpAllocResult {
  /** Estimated heap bytes per segment TCP processed (each engine's segments in + out, tcpstat rcvtotal + sndtotal). */
  bytesPerSegment: number;
  /** The same per segment on the wire (sndtotal only: each is sent by one engine and received by the other). */
  bytesPerWireSegment: number;
  bytes: number;
  segmentsIn: number;
  segmentsOut: number;
  workload: string;
  top: AllocSite[];
}

/**
 * The steady path of TCP: `conns` established connections between two hosts (TcpHost, the
 * code the netisr and the http hosts run: frames decoded in place from batches, segments
 * written into batches by TcpFrameQueue), each exchanging `msgBytes`-byte messages back and
 * forth, `rounds` round trips sampled after `warmup` unsampled ones (and `warmupMs`). The programs read with
 * recvInto() into a buffer of their own (so no view of a receive buffer goes out) and answer
 * with send(). Segments come from the engines' counters.
 */
export async function measureTcpAlloc(o: { conns?: number; rounds?: number; warmup?: number; warmupMs?: number; msgBytes?: number } = {}): Promise<TcpAllocResult> {
  const conns = o.conns ?? 64;
  const rounds = o.rounds ?? 400;
  const warmup = o.warmup ?? 200;
  const warmupMs = o.warmupMs ?? 300;
  const msg = new Uint8Array(o.msgBytes ?? 100).fill(0x61);
  let t = 0;
  const toServer: Uint8Array[] = [];
  const toClient: Uint8Array[] = [];
  const sq = new TcpFrameQueue((b) => toClient.push(b), 256 * 1024, false);
  const cq = new TcpFrameQueue((b) => toServer.push(b), 256 * 1024, false);
  const server = new TcpHost({ ncpus: 1, now: () => t, somaxconn: 4096, lendSegs: true, output: (_c, seg) => sq.push(seg) });
  const client = new TcpHost({ ncpus: 1, now: () => t, lendSegs: true, output: (_c, seg) => cq.push(seg), portFirst: 20000, portLast: 60000 });
  const saddr = ipAddr("198.18.0.1");
  const caddr = ipAddr("198.18.1.1");
  const ss = new Sockets({ host: server, cpu: 0, owner: "alloc-server", listen: new HostListenBackend(server) });
  const cs = new Sockets({ host: client, cpu: 0, owner: "alloc-client", source: () => caddr });
  let replies = 0;
  // What the programs read into (recvInto: the receive buffer's chunk is written again).
  const rbuf = new Uint8Array(64 * 1024);
  const lfd = ss.socket((fd, ev) => {
    if (ev !== SoEvent.ACCEPT) return;
    for (let a = ss.accept(fd, null); a >= 0; a = ss.accept(fd, null)) {
      ss.onEvent(a, (afd, aev) => {
        if (aev !== SoEvent.READABLE) return;
        while (ss.recvInto(afd, rbuf) > 0) ss.send(afd, msg);
      });
    }
  });
  ss.bind(lfd, saddr, 80);
  ss.setsockopt(lfd, SockOpt.SO_REUSEPORT, true);
  await ss.listen(lfd, 4096);
  const cfds: number[] = [];
  for (let i = 0; i < conns; i++) {
    const fd = cs.socket((cfd, ev) => {
      if (ev === SoEvent.CONNECTED) cs.send(cfd, msg);
      else if (ev === SoEvent.READABLE) {
        while (cs.recvInto(cfd, rbuf) > 0) replies++;
      }
    });
    cs.connect(fd, saddr, 80);
    cfds.push(fd);
  }
  const sc = new FrameBatchCursor();
  const cc = new FrameBatchCursor();
  // The harness allocates nothing per round of its own (indexed loops; a wire's array is
  // emptied, not replaced), so what is sampled is TCP's and the frame queues'.
  const deliver = (q: Uint8Array[], host: TcpHost, cur: FrameBatchCursor) => {
    for (let i = 0; i < q.length; i++) host.inputBatch(q[i], cur);
    q.length = 0;
  };
  const pump = () => {
    cq.flush();
    sq.flush();
    while (toServer.length || toClient.length) {
      deliver(toServer, server, sc);
      sq.flush();
      deliver(toClient, client, cc);
      cq.flush();
    }
  };
  const round = () => {
    t += 1;
    pump();
    // Delayed ACKs and the like fall due: the wire is quiet after each round.
    server.tick(t);
    client.tick(t);
    pump();
    for (let i = 0; i < cfds.length; i++) cs.send(cfds[i], msg);
  };
  pump();
  // At least `warmup` rounds and `warmupMs`: the optimizing compiler runs beside this thread
  // (slowly on a loaded machine), and code not yet optimized makes a heap number of every
  // unsigned 32-bit value it touches, which is not the steady path.
  const until = performance.now() + warmupMs;
  for (let i = 0; i < warmup || performance.now() < until; i++) {
    round();
    if (i >= warmup) await new Promise((r) => setImmediate(r));
  }
  const se = server.cpu(0).engine.stats;
  const ce = client.cpu(0).engine.stats;
  const in0 = se.rcvtotal + ce.rcvtotal;
  const out0 = se.sndtotal + ce.sndtotal;
  const r0 = replies;
  const sampler = await AllocSampler.start();
  for (let i = 0; i < rounds; i++) round();
  const sample = await sampler.stop();
  const segmentsIn = se.rcvtotal + ce.rcvtotal - in0;
  const segmentsOut = se.sndtotal + ce.sndtotal - out0;
  if (replies - r0 < conns * rounds * 0.9) throw new Error(`alloc bench: ${replies - r0} replies in ${rounds} rounds of ${conns} connections`);
  return {
    bytesPerSegment: Math.round((sample.main / Math.max(1, segmentsIn + segmentsOut)) * 10) / 10,
    bytesPerWireSegment: Math.round((sample.main / Math.max(1, segmentsOut)) * 10) / 10,
    bytes: sample.main,
    segmentsIn,
    segmentsOut,
    workload: `${conns} established connections, ${msg.length}-byte request and reply per round trip, ${rounds} round trips (TcpHost pair, frame batches)`,
    top: sample.top,
  };
}
