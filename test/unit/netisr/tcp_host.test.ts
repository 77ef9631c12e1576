/**
 * The host stack glue with real engines and real frames: two hosts (every CPU in this
 * thread) joined by an in-memory wire that carries IPv4 frames (built with both checksums,
 * parsed back with checksum verification). Covers the sockets API, placement and ownership
 * (every segment on its hash CPU), and Linux's migrate_reuseport selftest scenario at the
 * socket layer: 5 listeners, 25 connections completed but not accepted, close 4.
 */
import { describe, expect, it } from "vitest";
import {
  ListenerPolicy,
  TcpConnectionError,
  TcpState,
  ipAddr,
  netisrHashcpu,
  InpcbAddrInUseError,
  type TcpSeg,
} from "@dfly/core";
import { FrameBatchCursor } from "@dfly/transport";
import { HostListenBackend, SockError, SockOpt, Sockets, SoEvent, TcpFrameQueue, TcpHost, type TcpHostOptions } from "@dfly/netisr/internal";
import { buildTcpPacket, TcpFlags } from "@dfly/core";
import { FuzzRng, mutateFrame, seedFrames } from "../../support/fuzz.js";

const SERVER = ipAddr("198.18.0.1");
const CLIENT = ipAddr("198.18.0.10");

class Wire {
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

type Ev = { fd: number; ev: SoEvent; err: string | null };

function recorder(): { evs: Ev[]; h: (fd: number, ev: SoEvent, err: string | null) => void } {
  const evs: Ev[] = [];
  return { evs, h: (fd, ev, err) => evs.push({ fd, ev, err }) };
}

const text = (u: Uint8Array | null) => (u === null ? null : new TextDecoder().decode(u));
const bytes = (s: string) => new TextEncoder().encode(s);

describe("sockets over two hosts and a wire of real frames", () => {
  it("connect, accept, send both ways, close: events in order, FIN handshake, TIME_WAIT released after 2·MSL", async () => {
    const w = new Wire(2);
    const backend = new HostListenBackend(w.server);
    const ss = new Sockets({ host: w.server, cpu: 0, owner: "srv", listen: backend });
    const cs = new Sockets({ host: w.client, cpu: 1, owner: "cli", source: () => CLIENT });
    const l = recorder();
    const lfd = ss.socket(l.h);
    ss.bind(lfd, 0, 8080);
    const rep = await ss.listen(lfd);
    expect(rep).toMatchObject({ index: 0, size: 1 });
    const c = recorder();
    const cfd = cs.socket(c.h);
    cs.setsockopt(cfd, SockOpt.TCP_NODELAY, true);
    cs.connect(cfd, SERVER, 8080);
    w.pump();
    expect(c.evs.map((e) => e.ev)).toEqual([SoEvent.CONNECTED]);
    expect(l.evs.map((e) => e.ev)).toEqual([SoEvent.ACCEPT]);
    const a = recorder();
    const afd = ss.accept(lfd, a.h);
    expect(afd).toBeGreaterThanOrEqual(0);
    expect(ss.accept(lfd)).toBe(-1); // EAGAIN
    const info = ss.info(afd);
    expect(info).toMatchObject({ laddr: SERVER, lport: 8080, faddr: CLIENT, state: "ESTABLISHED", remote: false });
    // The connection lives on the CPU its hash names, on both hosts.
    expect(info.cpu).toBe(netisrHashcpu(w.server.hashOf(CLIENT, info.fport, SERVER, 8080), 2));
    expect(cs.info(cfd).cpu).toBe(netisrHashcpu(w.client.hashOf(SERVER, 8080, CLIENT, info.fport), 2));

    expect(cs.send(cfd, bytes("GET / HTTP/1.1\r\n\r\n"))).toBe(18);
    w.pump();
    expect(a.evs.map((e) => e.ev)).toEqual([SoEvent.READABLE]);
    expect(text(ss.recv(afd))).toBe("GET / HTTP/1.1\r\n\r\n");
    expect(ss.recv(afd)!.length).toBe(0); // nothing more yet
    expect(ss.send(afd, bytes("hello"))).toBe(5);
    ss.close(afd);
    w.pump();
    expect(c.evs.map((e) => e.ev)).toEqual([SoEvent.CONNECTED, SoEvent.READABLE, SoEvent.EOF]);
    expect(text(cs.recv(cfd))).toBe("hello");
    expect(cs.recv(cfd)).toBeNull(); // end of stream
    cs.close(cfd);
    w.pump();
    // Server closed first: its PCB waits in TIME_WAIT (2·MSL = 40 ms), the client's is gone.
    const sCpu = info.cpu;
    expect(w.server.connectionStates(sCpu)).toMatchObject({ TIME_WAIT: 1 });
    expect(w.client.pcb.count).toBe(0);
    w.advance(60);
    expect(w.server.pcb.pcbinfo[sCpu].connCount).toBe(0);
    expect(() => ss.recv(afd)).toThrow(SockError);
  });

  it("every segment is processed once, on the CPU its hash names, and connect migrations are counted", async () => {
    // Server 4 CPUs; client host 3: with a power-of-2 CPU count the 2·ncpus port search always
    // finds a port on the calling CPU (the hash bits are linear in the port's low bits), with 3
    // it sometimes does not and the connection migrates.
    const N = 4;
    const NC = 3;
    const w = new Wire(N, NC);
    const ss = new Sockets({ host: w.server, cpu: 0, owner: "srv", listen: new HostListenBackend(w.server) });
    const lfd = ss.socket((fd, ev) => {
      if (ev !== SoEvent.ACCEPT) return;
      for (let a = ss.accept(fd); a >= 0; a = ss.accept(fd)) {
        const afd = a;
        ss.onEvent(afd, (f, e) => {
          if (e === SoEvent.READABLE) {
            ss.recv(f);
            ss.send(f, bytes("x".repeat(300)));
            ss.close(f);
          }
        });
      }
    });
    ss.bind(lfd, 0, 80);
    await ss.listen(lfd);
    const clients = Array.from({ length: NC }, (_, cpu) => new Sockets({ host: w.client, cpu, owner: `c${cpu}`, source: () => CLIENT }));
    let done = 0;
    for (let i = 0; i < 200; i++) {
      const s = clients[i % NC];
      const fd = s.socket((f, e) => {
        if (e === SoEvent.CONNECTED) s.send(f, bytes("hi"));
        if (e === SoEvent.EOF) {
          while (s.recv(f) !== null);
          s.close(f);
          done++;
        }
      });
      s.connect(fd, SERVER, 80);
    }
    w.pump(200);
    w.advance(100);
    expect(done).toBe(200);
    for (const [side, host, n] of [["server", w.server, N], ["client", w.client, NC]] as const) {
      const seen = w.seen[side];
      expect(seen.length).toBe(side === "server" ? w.frames.toServer : w.frames.toClient);
      for (const [cpu, h] of seen) expect(cpu).toBe(netisrHashcpu(h, n));
      for (let c = 0; c < n; c++) expect(host.cpu(c).stats.wrongcpu).toBe(0);
      // every CPU did work
      for (let c = 0; c < n; c++) expect(seen.filter(([x]) => x === c).length).toBeGreaterThan(0);
    }
    let local = 0;
    let migrated = 0;
    for (let c = 0; c < NC; c++) {
      local += w.client.pcb.stats[c].connectLocal;
      migrated += w.client.pcb.stats[c].connectMigrations;
    }
    expect(local + migrated).toBe(200);
    expect(migrated).toBeGreaterThan(0);
    expect(migrated).toBeLessThan(100);
  });

  it("bad descriptors and misuse are refused with an errno", async () => {
    const w = new Wire(1);
    const s = new Sockets({ host: w.server, cpu: 0, owner: "s", listen: new HostListenBackend(w.server) });
    expect(() => s.send(42, bytes("x"))).toThrow(/EBADF/);
    const fd = s.socket();
    expect(() => s.send(fd, bytes("x"))).toThrow(/ENOTCONN/);
    expect(() => s.accept(fd)).toThrow(/EINVAL/);
    await expect(s.listen(fd)).rejects.toThrow(/unbound/);
    expect(() => s.connect(fd, SERVER, 80)).toThrow(/no source address/);
    expect(() => s.setsockopt(fd, SockOpt.SO_SNDBUF, 3)).toThrow(/EINVAL/);
    s.bind(fd, 0, 80);
    await s.listen(fd);
    const other = s.socket();
    s.bind(other, 0, 80);
    await expect(s.listen(other)).rejects.toThrow(InpcbAddrInUseError); // no SO_REUSEPORT on either
    expect(() => s.setsockopt(fd, SockOpt.SO_REUSEPORT, true)).toThrow(/after bind/);
  });

  it("a connection to a port nobody listens on is refused (RST), reported as ECONNREFUSED", () => {
    const w = new Wire(2);
    const cs = new Sockets({ host: w.client, cpu: 0, owner: "c", source: () => CLIENT });
    const r = recorder();
    const fd = cs.socket(r.h);
    cs.connect(fd, SERVER, 81);
    w.pump();
    expect(r.evs.map((e) => [e.ev, e.err])).toEqual([[SoEvent.ERROR, "ECONNREFUSED"], [SoEvent.CLOSED, "ECONNREFUSED"]]);
    expect(() => cs.recv(fd)).toThrow(TcpConnectionError);
  });
});

describe("listener inheritance: Linux's migrate_reuseport selftest at the socket layer", () => {
  async function scenario(policy: ListenerPolicy) {
    const w = new Wire(4, 4, policy);
    const backend = new HostListenBackend(w.server);
    const servers = Array.from({ length: 5 }, (_, i) => new Sockets({ host: w.server, cpu: i % 4, owner: `w${i}`, listen: backend }));
    const lfds: number[] = [];
    for (const s of servers) {
      const fd = s.socket(); // nobody accepts yet
      s.setsockopt(fd, SockOpt.SO_REUSEPORT, true);
      s.bind(fd, 0, 8080);
      const r = await s.listen(fd);
      expect(r.index).toBe(lfds.length); // slots in order
      lfds.push(fd);
    }
    const cs = new Sockets({ host: w.client, cpu: 0, owner: "c", source: () => CLIENT });
    const cev: Map<number, SoEvent[]> = new Map();
    const cfds: number[] = [];
    for (let i = 0; i < 25; i++) {
      const fd = cs.socket((f, e) => cev.get(f)!.push(e));
      cev.set(fd, []);
      cs.connect(fd, SERVER, 8080);
      cfds.push(fd);
    }
    w.pump();
    const recs = w.server.listenerList();
    expect(recs.reduce((n, r) => n + r.ls.qlen, 0)).toBe(25); // completed, not accepted
    const onClosed = recs.slice(0, 4).reduce((n, r) => n + r.ls.qlen, 0);
    const onSurvivor = recs[4].ls.qlen;
    expect(onClosed).toBeGreaterThan(0);
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await servers[i].close(lfds[i])!);
    w.pump();
    return { w, servers, lfds, cs, cfds, cev, replies, onClosed, onSurvivor, survivor: recs[4] };
  }

  it("DragonFly: all 25 are accepted on the survivor and served, none reset", async () => {
    const s = await scenario(ListenerPolicy.DRAGONFLY);
    expect(s.replies.reduce((n, r) => n + r.migrated, 0)).toBe(s.onClosed);
    expect(s.replies.every((r) => r.dropped === 0)).toBe(true);
    expect(s.survivor.ls.qlen).toBe(25);
    const srv = s.servers[4];
    const accepted: number[] = [];
    for (let fd = srv.accept(s.lfds[4]); fd >= 0; fd = srv.accept(s.lfds[4])) accepted.push(fd);
    expect(accepted.length).toBe(25);
    for (const fd of accepted) {
      srv.send(fd, bytes("ok"));
      srv.close(fd);
    }
    s.w.pump();
    for (const fd of s.cfds) {
      expect(text(s.cs.recv(fd))).toBe("ok");
      expect(s.cev.get(fd)).not.toContain(SoEvent.ERROR);
    }
    let moved = 0;
    for (let c = 0; c < 4; c++) moved += s.w.server.pcb.stats[c].listenerMigrations.dragonfly.moved;
    expect(moved).toBe(s.onClosed);
  });

  it("Linux (before 5.14): resets equal the connections that were queued on the closed listeners", async () => {
    const s = await scenario(ListenerPolicy.LINUX);
    const dropped = s.replies.reduce((n, r) => n + r.dropped, 0);
    expect(dropped).toBe(s.onClosed);
    const reset = s.cfds.filter((fd) => s.cev.get(fd)!.includes(SoEvent.ERROR));
    expect(reset.length).toBe(s.onClosed);
    for (const fd of reset) expect(() => s.cs.recv(fd)).toThrow(TcpConnectionError);
    expect(s.survivor.ls.qlen).toBe(s.onSurvivor);
  });

  it("tcp_migrate_req: every queued connection migrates to a live member, ending on the survivor (TcpMigrateReqSuccess)", async () => {
    const s = await scenario(ListenerPolicy.LINUX_MIGRATE_REQ);
    expect(s.survivor.ls.qlen).toBe(25);
    let ok = 0;
    let fail = 0;
    for (let c = 0; c < 4; c++) {
      ok += s.w.server.pcb.stats[c].TcpMigrateReqSuccess;
      fail += s.w.server.pcb.stats[c].TcpMigrateReqFailure;
    }
    // A connection may move more than once (to a member that is closed later): each move counts.
    expect(ok).toBeGreaterThanOrEqual(s.onClosed);
    expect(fail).toBe(0);
    expect(s.cfds.every((fd) => !s.cev.get(fd)!.includes(SoEvent.ERROR))).toBe(true);
  });

  it("closing the last member resets what is queued on it", async () => {
    const s = await scenario(ListenerPolicy.DRAGONFLY);
    const r = await s.servers[4].close(s.lfds[4])!;
    expect(r).toMatchObject({ migrated: 0, dropped: 25, heir: "" });
    s.w.pump();
    expect(s.cfds.every((fd) => s.cev.get(fd)!.includes(SoEvent.ERROR))).toBe(true);
    for (let c = 0; c < 4; c++) expect(s.w.server.pcb.pcbinfo[c].connCount).toBe(0);
    expect(s.w.server.pcb.count).toBe(0);
    void TcpState;
  });
});

describe("per-route options", () => {
  it("a route's initial window (rmx_iwmaxsegs) and MTU apply to accepted connections", async () => {
    for (const [route, segs, mss] of [[undefined, 4, 1460], [{ iwSegs: 10, mss: 1200 }, 10, 1200]] as const) {
      const w = new Wire(1, 1, undefined, route ? () => route : undefined);
      const ss = new Sockets({ host: w.server, cpu: 0, owner: "s", listen: new HostListenBackend(w.server) });
      const cs = new Sockets({ host: w.client, cpu: 0, owner: "c", source: () => CLIENT });
      const lfd = ss.socket();
      ss.bind(lfd, 0, 80);
      await ss.listen(lfd);
      cs.connect(cs.socket(), SERVER, 80);
      w.pump();
      const afd = ss.accept(lfd);
      const { fport } = ss.info(afd);
      const tp = w.server.pcb.pcbinfo[0].lookupConn(CLIENT, fport, SERVER, 80)!.ppcb!;
      expect(tp.t_mssopt).toBe(mss);
      expect(tp.snd_cwnd).toBe(segs * tp.t_maxseg);
    }
  });
});

describe("bad input at the host", () => {
  it("malformed, forged and out-of-window segments are counted and dropped; nothing throws; the live connection survives", async () => {
    const w = new Wire(2);
    const ss = new Sockets({ host: w.server, cpu: 0, owner: "srv", listen: new HostListenBackend(w.server) });
    const cs = new Sockets({ host: w.client, cpu: 0, owner: "cli", source: () => CLIENT });
    const lfd = ss.socket();
    ss.bind(lfd, 0, 80);
    await ss.listen(lfd);
    const cfd = cs.socket();
    cs.connect(cfd, SERVER, 80);
    w.pump();
    const afd = ss.accept(lfd);
    expect(afd).toBeGreaterThanOrEqual(0);
    const i = ss.info(afd);
    const tp = w.server.cpu(i.cpu).engine;
    const stcb = (w.server.pcb.pcbinfo[i.cpu].lookupConn(CLIENT, i.fport, SERVER, 80)!.ppcb)!;
    const seq = stcb.rcv_nxt >>> 0;
    const ack = stcb.snd_nxt >>> 0;
    const seg = (flags: number, s: number, payload?: Uint8Array) =>
      buildTcpPacket({ src: CLIENT, dst: SERVER, sport: i.fport, dport: 80, seq: s >>> 0, ack, flags, window: 65535, ...(payload ? { payload } : {}) });
    const forged: Uint8Array[] = [];
    const badsum = seg(TcpFlags.ACK | TcpFlags.PSH, seq, bytes("corrupt"));
    badsum[36] ^= 0x55;
    forged.push(badsum);
    forged.push(seg(TcpFlags.SYN | TcpFlags.FIN, seq)); // impossible flags
    forged.push(seg(TcpFlags.SYN | TcpFlags.RST, seq));
    forged.push(seg(TcpFlags.RST | TcpFlags.ACK, seq + 1)); // in the window but not exact: challenge ACK (RFC 5961)
    forged.push(seg(TcpFlags.RST, seq + 10_000_000)); // outside the window: ignored
    forged.push(seg(TcpFlags.SYN, seq)); // SYN on an established connection: challenge ACK
    forged.push(seg(TcpFlags.ACK, seq + 5_000_000, bytes("far away"))); // data outside the window
    forged.push(buildTcpPacket({ src: CLIENT, dst: SERVER, sport: 999, dport: 80, seq: 1, ack: 12345, flags: TcpFlags.ACK })); // an ACK for no handshake
    forged.push(buildTcpPacket({ src: CLIENT, dst: SERVER, sport: 999, dport: 80, seq: 1, flags: TcpFlags.RST })); // a RST to the listener
    forged.push(buildTcpPacket({ src: CLIENT, dst: SERVER, sport: 998, dport: 80, seq: 1, ack: 1, flags: TcpFlags.SYN | TcpFlags.ACK })); // SYN|ACK to a listener
    const rng = new FuzzRng(7);
    const seeds = seedFrames(rng);
    for (let k = 0; k < 3000; k++) forged.push(mutateFrame(seeds[k % seeds.length], rng));
    for (const f of forged) expect(() => w.server.inputFrame(f)).not.toThrow();
    w.pump();
    w.advance(50);
    const st = tp.stats;
    expect(st.rcvbadsum).toBeGreaterThan(0);
    expect(st.rcvsynfin).toBeGreaterThan(0);
    expect(st.rcvsynrst).toBeGreaterThan(0);
    expect(st.rstchallenge + st.badsyn).toBeGreaterThan(0);
    expect(st.badrst).toBeGreaterThan(0);
    // The connection is untouched: data still flows both ways.
    expect(ss.info(afd).state).toBe("ESTABLISHED");
    expect(cs.info(cfd).state).toBe("ESTABLISHED");
    cs.send(cfd, bytes("ping"));
    w.pump();
    expect(text(ss.recv(afd))).toBe("ping");
    ss.send(afd, bytes("pong"));
    w.pump();
    expect(text(cs.recv(cfd))).toBe("pong");
  });
});

describe("parse once: the hash and the IP verdict from ip_input", () => {
  it("with the NIC's hash the IP header is not checksummed again and the hash is not recomputed; without it, both are", () => {
    const host = new TcpHost({ ncpus: 1, output: () => undefined });
    host.listenInstall({ id: "L80", laddr: 0, lport: 80, reuseport: false, backlog: -1, owner: "app" });
    const src = 0xc612000a;
    const dst = 0xc6120001;
    const frame = buildTcpPacket({ src, dst, sport: 4000, dport: 80, seq: 1, ack: 0, flags: TcpFlags.SYN, window: 1000, payload: new Uint8Array(0) });
    frame[10] ^= 0xff; // IP header checksum broken: only a caller that verified it may skip the check
    const c = host.cpu(0);
    expect(host.inputFrameAt(frame, 0, frame.length)).toBe(false);
    expect(c.stats.badframes).toBe(1);
    const raw = 0x5a5a0000 | host.hashOf(src, 4000, dst, 80);
    expect(host.inputFrameAt(frame, 0, frame.length, raw)).toBe(true);
    expect(c.stats.segsIn).toBe(1);
    expect(c.stats.badframes).toBe(1);
  });
});
