/**
 * connect placement (tcp_connect.ts): every segment is processed once, on the CPU its hash
 * names, and connects that could not find a port on their CPU migrate (counted).
 */
import { describe, expect, it } from "vitest";
import { netisrHashcpu } from "@dfly/core";
import { HostListenBackend, Sockets, SoEvent } from "@dfly/netisr/internal";
import { bytes, CLIENT, SERVER, Wire } from "../../support/tcp-wire.js";

describe("connect placement over two hosts", () => {
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
});
