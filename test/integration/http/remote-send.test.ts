/**
 * Send-buffer backpressure for a program with no CPU of its own, over a real nats-server (paper
 * §2.4: send returns at once only while the send buffer is not full). The program sends several
 * MB to a slow reader on the wire (a host with its own TCP that reads a few KB every few ms):
 *
 *   - asynchronous send takes what its credit allows, returns 0 (EWOULDBLOCK) when the credit is
 *     used up, and WRITABLE brings it back; the bytes arrive intact, with no reset, and what the
 *     owner CPU holds beyond the send buffer never exceeds one send buffer;
 *   - SO_SYNCSEND: each call returns what the CPU took; the program sends the rest after WRITABLE,
 *     and nothing arrives twice (the reader checks every byte against its offset).
 *
 * `DFLY_REMOTE_SEND_MB=64` runs the same with 64 MB.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ipAddr } from "@dfly/core";
import { ControlClient } from "@dfly/control";
import { attachSockEvents, HostListenBackend, PortSockRemote, SockOpt, Sockets, SoEvent, SO_REMOTE_SEND_WINDOW, TcpFrameQueue, TcpHost } from "@dfly/netisr/internal";
import { FrameBatchCursor, subjects } from "@dfly/transport";
import { EmbeddedCluster } from "@dfly/cli";
import { startNatsProcess, type NatsProcess } from "../../support/nats-process.js";

const PEER = ipAddr("198.18.0.10");
const MB = Number(process.env.DFLY_REMOTE_SEND_MB ?? 4);
const TOTAL = MB * 1024 * 1024;
const pat = (i: number) => (i ^ (i >>> 8) ^ (i >>> 16)) & 255;

describe("remote send backpressure over NATS", () => {
  let nats: NatsProcess;
  let ec: EmbeddedCluster;
  let peer: TcpHost;
  let srv: Sockets;
  const stops: (() => void)[] = [];
  /** Per accepted connection: bytes read, first mismatch, EOF, error. */
  const readers: { got: number; bad: number; eof: boolean; err: string | null }[] = [];
  const byFd = new Map<number, (typeof readers)[number]>();

  beforeAll(async () => {
    nats = await startNatsProcess();
    ec = await EmbeddedCluster.start({
      cpus: 2,
      cluster: `rsend${process.pid}`,
      natsUrl: nats.url,
      interfaces: [{ ifname: "ix0", model: "82599", mode: "interrupt" }],
      routes: [{ prefix: "198.18.0.0/24", ifname: "ix0" }],
      tcp: { config: { msl: 20 } },
    });
    const t = ec.transport;
    const out = new TcpFrameQueue((b) => t.publish(subjects.wireIn(ec.cluster, "ix0"), b, { transfer: true }));
    peer = new TcpHost({ ncpus: 1, output: (_c, seg) => out.push(seg), config: { msl: 20 } });
    const cur = new FrameBatchCursor();
    const sub = t.subscribe(subjects.wireOut(ec.cluster, "ix0"), (m) => {
      if (cur.reset(m.data) !== null) return;
      while (cur.next()) peer.inputFrameAt(cur.buf, cur.offset, cur.length);
    });
    const tick = setInterval(() => peer.tick(), 10);
    stops.push(() => sub.unsubscribe(), () => clearInterval(tick));
    srv = new Sockets({ host: peer, cpu: 0, owner: "slow", listen: new HostListenBackend(peer) });
    const lfd = srv.socket((fd, ev) => {
      if (ev !== SoEvent.ACCEPT) return;
      for (let a = srv.accept(fd); a >= 0; a = srv.accept(fd)) {
        const rd = { got: 0, bad: -1, eof: false, err: null as string | null };
        readers.push(rd);
        srv.onEvent(a, (_f, e, err) => {
          if (e === SoEvent.ERROR) rd.err = err;
        });
        byFd.set(a, rd);
      }
    });
    srv.bind(lfd, 0, 9);
    await srv.listen(lfd);
    // The slow reader: 24 KB per connection every 2 ms (~12 MB/s at most), checking every byte.
    const slow = setInterval(() => {
      for (const [fd, rd] of byFd) {
        if (rd.eof || rd.err) continue;
        let b: Uint8Array | null;
        try {
          b = srv.recv(fd, 24 * 1024);
        } catch (err) {
          rd.err = (err as Error).message;
          continue;
        }
        if (b === null) {
          rd.eof = true;
          srv.close(fd);
          continue;
        }
        for (let i = 0; i < b.length; i++) if (rd.bad < 0 && b[i] !== pat(rd.got + i)) rd.bad = rd.got + i;
        rd.got += b.length;
      }
    }, 2);
    stops.push(() => clearInterval(slow));
    await t.flush();
  }, 60_000);

  afterAll(async () => {
    for (const f of stops) f();
    await ec?.stop();
    await nats?.stop();
  });

  async function sendAll(sync: boolean): Promise<{ shorts: number; zeros: number; writables: number; rd: (typeof readers)[number] }> {
    const live = ec.control.parts.cluster.liveCpus();
    const prog = new Sockets({
      host: new TcpHost({ ncpus: live.length, local: [], output: () => undefined }),
      cpu: 0,
      owner: `sender${sync ? "sync" : "async"}`,
      remote: new PortSockRemote(ec.transport, ec.cluster, (i) => live[i]),
    });
    const evs = attachSockEvents(ec.transport, ec.cluster, prog);
    await ec.transport.flush();
    const before = readers.length;
    const st = { shorts: 0, zeros: 0, writables: 0 };
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out: ${readers[before]?.got ?? 0}/${TOTAL} read`)), 25_000 + MB * 1500);
        let off = 0;
        let busy = false;
        let again = false; // WRITABLE came while a synchronous send was still out
        const chunk = (at: number) => {
          const n = Math.min(16 * 1024, TOTAL - at);
          const b = new Uint8Array(n);
          for (let i = 0; i < n; i++) b[i] = pat(at + i);
          return b;
        };
        const fd = prog.socket((f, e, err) => {
          if (e === SoEvent.CONNECTED) void pump(f);
          else if (e === SoEvent.WRITABLE) {
            st.writables++;
            void pump(f);
          } else if (e === SoEvent.ERROR) reject(new Error(`sender: ${err}`));
        });
        if (sync) prog.setsockopt(fd, SockOpt.SO_SYNCSEND, true);
        const pump = async (f: number) => {
          if (busy) {
            again = true;
            return;
          }
          busy = true;
          try {
            while (off < TOTAL) {
              const b = chunk(off);
              again = false;
              const n = sync ? await prog.sendSync(f, b) : prog.send(f, b);
              off += n;
              if (n < b.length) {
                st.shorts++;
                if (n === 0) st.zeros++;
                if (!again) return; // WRITABLE resumes
              }
            }
            prog.close(f);
          } finally {
            busy = false;
          }
        };
        prog.connect(fd, PEER, 9);
        const poll = setInterval(() => {
          const rd = readers[before];
          if (rd?.err) reject(new Error(`reader: ${rd.err}`));
          if (rd?.eof) {
            clearInterval(poll);
            clearTimeout(timer);
            resolve();
          }
        }, 20);
      });
    } finally {
      evs.unsubscribe();
    }
    return { ...st, rd: readers[before] };
  }

  it(`asynchronous: ${MB} MB to a slow reader; send returns 0 when the credit is used up, WRITABLE resumes; intact, no reset, held ≤ one buffer`, async () => {
    const r = await sendAll(false);
    expect(r.rd).toMatchObject({ got: TOTAL, bad: -1, eof: true, err: null });
    expect(r.zeros).toBeGreaterThan(0);
    expect(r.writables).toBeGreaterThan(0);
    const c = new ControlClient(ec.control.grpcAddr);
    const s = await c.getStats();
    c.close();
    const tcp = s.total.find((p) => p.protocol === "tcp")!.counters;
    const sock = s.total.find((p) => p.protocol === "sock")?.counters ?? {};
    expect(tcp.sndrst ?? 0).toBe(0);
    expect(tcp.drops ?? 0).toBe(0);
    expect(sock.sendOverrun ?? 0).toBe(0);
    // What a CPU held beyond the TCP send buffer stayed within one send buffer (the program's credit).
    expect(sock.sendHeldMax ?? 0).toBeLessThanOrEqual(SO_REMOTE_SEND_WINDOW);
  }, 120_000);

  it(`SO_SYNCSEND: ${MB} MB; short counts are sent again after WRITABLE and nothing arrives twice`, async () => {
    const r = await sendAll(true);
    expect(r.rd).toMatchObject({ got: TOTAL, bad: -1, eof: true, err: null });
    expect(r.shorts).toBeGreaterThan(0);
    expect(r.writables).toBeGreaterThan(0);
  }, 120_000);
});
