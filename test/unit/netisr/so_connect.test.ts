/**
 * connect(2) of a program with no CPU (so_connect.ts): a refused remote connect reports ERROR and
 * leaves the socket unconnected; one closed while connecting is aborted on its CPU when named.
 */
import { describe, expect, it } from "vitest";
import { ipAddr } from "@dfly/core";
import { SoEvent, Sockets, TcpHost, type RemoteConnInfo, type SockRemote } from "@dfly/netisr/internal";

function remote(connect: SockRemote["connect"], closed: string[]): SockRemote {
  return {
    accept: async () => [],
    connect,
    send: () => undefined,
    sendSync: async (_c, _i, d) => d.length,
    shutdown: () => undefined,
    close: (cpu, id, abort) => closed.push(`${cpu}/${id}/${abort}`),
    setsockopt: () => undefined,
  };
}

const PEER = ipAddr("198.18.0.10");

describe("so_connect", () => {
  it("a refused remote connect: ERROR with the reason, and the socket may connect again", async () => {
    const evs: string[] = [];
    const s = new Sockets({ host: new TcpHost({ ncpus: 1, local: [], output: () => undefined }), cpu: 0, owner: "p", remote: remote(() => Promise.reject(new Error("ECONNREFUSED")), []) });
    const fd = s.socket((_fd, ev, err) => evs.push(`${ev}:${err}`));
    s.connect(fd, PEER, 80);
    await new Promise((r) => setTimeout(r, 0));
    expect(evs).toEqual([`${SoEvent.ERROR}:ECONNREFUSED`]);
    expect(() => s.connect(fd, PEER, 80)).not.toThrow();
  });

  it("closed while connecting: the socket the CPU names is aborted there", async () => {
    const closed: string[] = [];
    const info = (faddr: number, fport: number): RemoteConnInfo => ({ cpu: 3, id: 7, laddr: 1, lport: 40000, faddr, fport });
    const s = new Sockets({ host: new TcpHost({ ncpus: 4, local: [], output: () => undefined }), cpu: 0, owner: "p", remote: remote(async (_cpu, req) => info(req.faddr, req.fport), closed) });
    const fd = s.socket();
    s.connect(fd, PEER, 80);
    s.close(fd);
    await new Promise((r) => setTimeout(r, 0));
    expect(closed).toEqual(["3/7/true"]);
  });
});
