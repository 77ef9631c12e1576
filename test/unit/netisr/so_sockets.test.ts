/**
 * The sockets API (so_sockets.ts) over two hosts joined by a wire of real frames: connect,
 * accept, send both ways, close; misuse refused with an errno.
 */
import { describe, expect, it } from "vitest";
import { InpcbAddrInUseError, netisrHashcpu } from "@dfly/core";
import { HostListenBackend, SockError, SockOpt, Sockets, SoEvent } from "@dfly/netisr/internal";
import { bytes, CLIENT, recorder, SERVER, text, Wire } from "../../support/tcp-wire.js";

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
});
