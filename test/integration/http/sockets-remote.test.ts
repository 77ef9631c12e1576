/**
 * Socket calls over the CPUs' message ports (embedded mode: worker threads, gRPC control):
 *
 *   - a program with no CPU of its own connects out through a netisr CPU to a host on the
 *     wire (an echo server): the port search places each connection, migrating to the owner
 *     CPU over the ports when it must (counted there); data both ways, close;
 *   - httpd workers running in this thread, every socket call a netmsg and every event a
 *     message back, with asynchronous and with synchronous sends.
 */
import { describe, expect, it } from "vitest";
import { ipAddr } from "@dfly/core";
import { ControlClient } from "@dfly/control";
import { attachSockEvents, HostListenBackend, PortSockRemote, Sockets, SoEvent, TcpFrameQueue, TcpHost } from "@dfly/netisr/internal";
import { FrameBatchCursor, subjects } from "@dfly/transport";
import { EmbeddedCluster, runHttpShort } from "@dfly/cli";

const PEER = ipAddr("198.18.0.10");
const enc = new TextEncoder();
const dec = new TextDecoder();

describe("remote sockets", () => {
  it("connect from a program without a CPU: placed by the port search, migrated over the ports when needed; echo both ways", async () => {
    const N = 3;
    const ec = await EmbeddedCluster.start({
      cpus: N,
      interfaces: [{ ifname: "ix0", model: "82599", mode: "interrupt" }],
      routes: [{ prefix: "198.18.0.0/24", ifname: "ix0" }],
      tcp: { config: { msl: 20 } },
    });
    try {
      const t = ec.transport;
      // The echo host on ix0's wire: its own TCP, every CPU in this thread.
      const out = new TcpFrameQueue((b) => t.publish(subjects.wireIn(ec.cluster, "ix0"), b, { transfer: true }));
      const peer = new TcpHost({ ncpus: 2, output: (_c, seg) => out.push(seg) });
      const cur = new FrameBatchCursor();
      const sub = t.subscribe(subjects.wireOut(ec.cluster, "ix0"), (m) => {
        if (cur.reset(m.data) !== null) return;
        while (cur.next()) peer.inputFrame(cur.buf.subarray(cur.offset, cur.offset + cur.length));
      });
      const tick = setInterval(() => peer.tick(), 10);
      const echo = new Sockets({ host: peer, cpu: 0, owner: "echo", listen: new HostListenBackend(peer) });
      const lfd = echo.socket((fd, ev) => {
        if (ev !== SoEvent.ACCEPT) return;
        for (let a = echo.accept(fd); a >= 0; a = echo.accept(fd)) {
          echo.onEvent(a, (f, e) => {
            if (e === SoEvent.READABLE) {
              const b = echo.recv(f);
              if (b && b.length) echo.send(f, b);
            } else if (e === SoEvent.EOF) echo.close(f);
          });
        }
      });
      echo.bind(lfd, 0, 7);
      await echo.listen(lfd);

      // The program: no CPU of its own; its home CPU is 0 (it connects from there).
      const live = ec.control.parts.cluster.liveCpus();
      const prog = new Sockets({
        host: new TcpHost({ ncpus: N, local: [], output: () => undefined }),
        cpu: 0,
        owner: "prog",
        remote: new PortSockRemote(t, ec.cluster, (i) => live[i]),
      });
      const evs = attachSockEvents(t, ec.cluster, prog);
      await t.flush();
      const K = 24;
      const got = new Map<number, string>();
      const cpus = new Set<number>();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`echo timed out: ${got.size}/${K} done`)), 15_000);
        for (let i = 0; i < K; i++) {
          const msg = `hello ${i}`;
          const fd = prog.socket((f, e, err) => {
            if (e === SoEvent.CONNECTED) {
              cpus.add(prog.info(f).cpu);
              expect(prog.send(f, enc.encode(msg))).toBe(msg.length);
            } else if (e === SoEvent.READABLE) {
              const b = prog.recv(f);
              if (b && b.length) got.set(i, (got.get(i) ?? "") + dec.decode(b));
              if (got.get(i) === msg) prog.close(f);
            } else if (e === SoEvent.ERROR) reject(new Error(`connection ${i}: ${err}`));
          });
          prog.connect(fd, PEER, 7);
        }
        const poll = setInterval(() => {
          if (got.size === K && [...got].every(([i, s]) => s === `hello ${i}`)) {
            clearInterval(poll);
            clearTimeout(timer);
            resolve();
          }
        }, 20);
      });
      expect(got.size).toBe(K);
      // The connections live on the CPUs their hashes name: more than just the home CPU.
      expect(cpus.size).toBeGreaterThan(1);
      const c = new ControlClient(ec.control.grpcAddr);
      const st = await c.getStats();
      c.close();
      const tcp = st.total.find((p) => p.protocol === "tcp")!.counters;
      const home = st.cpus.find((x) => x.cpu === live[0])!.protocols.find((p) => p.protocol === "tcp")!.counters;
      // Every connect started on the home CPU: placed there, or migrated (counted there).
      expect((home.connect_local ?? 0) + (home.connect_migrations ?? 0)).toBeGreaterThanOrEqual(K);
      expect(home.connect_migrations).toBeGreaterThan(0);
      expect(tcp.connattempt).toBe(K);
      expect(tcp.wrongcpu ?? 0).toBe(0);
      clearInterval(tick);
      sub.unsubscribe();
      evs.unsubscribe();
    } finally {
      await ec.stop();
    }
  });

  for (const sync of [false, true]) {
    it(`httpd in this thread over the ports, ${sync ? "synchronous" : "asynchronous"} sends: every request served`, async () => {
      const r = await runHttpShort({ cpus: 2, clients: 16, durationMs: 600, warmupMs: 200, httpd: "remote", syncSend: sync });
      expect(r.errorCount).toBe(0);
      expect(r.completed).toBeGreaterThan(16);
      expect(r.httpdPerCpu.every((w) => w.errors === 0 && w.accepted > 0)).toBe(true);
    });
  }
});
