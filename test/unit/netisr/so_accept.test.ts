/**
 * The listening side (so_accept.ts), for a program with no CPU: connections announced by another
 * CPU are fetched over its port, handed out by accept() in order, data already there announced.
 */
import { describe, expect, it } from "vitest";
import { SoEvent, Sockets, TcpHost, type ListenBackend, type RemoteConnInfo, type SockRemote } from "@dfly/netisr/internal";

describe("so_accept", () => {
  it("fetches a remote CPU's queue, accepts each connection once, then EAGAIN", async () => {
    const conns: RemoteConnInfo[] = [
      { cpu: 1, id: 5, laddr: 1, lport: 80, faddr: 2, fport: 1000 },
      { cpu: 1, id: 6, laddr: 1, lport: 80, faddr: 2, fport: 1001, data: new Uint8Array([104, 105]) },
    ];
    const remote: SockRemote = {
      accept: async () => conns.splice(0),
      connect: () => Promise.reject(new Error("unused")),
      send: () => undefined,
      sendSync: async () => 0,
      shutdown: () => undefined,
      close: () => undefined,
      setsockopt: () => undefined,
    };
    const backend: ListenBackend = {
      listen: async () => ({ id: "L1", index: 0, size: 1 }),
      close: async () => ({ migrated: 0, dropped: 0, heir: "" }),
    };
    const s = new Sockets({ host: new TcpHost({ ncpus: 2, local: [], output: () => undefined }), cpu: 0, owner: "p", listen: backend, remote });
    const evs: string[] = [];
    const lfd = s.socket((fd, ev) => evs.push(`${fd}:${ev}`));
    s.bind(lfd, 0, 80);
    await s.listen(lfd);
    s.remoteAcceptable("L1", 1);
    await new Promise((r) => setTimeout(r, 0));
    expect(evs).toEqual([`${lfd}:${SoEvent.ACCEPT}`]);
    const a = s.accept(lfd);
    const b = s.accept(lfd);
    expect(s.accept(lfd)).toBe(-1);
    expect([s.info(a).fport, s.info(b).fport]).toEqual([1000, 1001]);
    await new Promise((r) => setTimeout(r, 0));
    expect(evs).toEqual([`${lfd}:${SoEvent.ACCEPT}`, `${b}:${SoEvent.READABLE}`]);
    expect(new TextDecoder().decode(s.recv(b)!)).toBe("hi");
  });
});
