/**
 * Remote sockets' events (so_remote.ts), for a program with no CPU of its own: the order of a remote connection's events
 * across a MOVED (live rescale hands the socket to another CPU).
 *
 * The new CPU's events can reach the program before the old CPU's MOVED (two publishers):
 * they wait in `early` and are applied after the MOVED. A transport hands over several
 * messages in one go (one NATS read), so the new CPU's next event can arrive in the same
 * turn as the MOVED, before the waiting ones are applied; it must still come after them —
 * applied first, the program reads the byte stream out of order (seen under load in
 * test/integration/rescale over a real nats-server).
 */
import { describe, expect, it } from "vitest";
import { ipAddr } from "@dfly/core";
import { SoEvent, Sockets, TcpHost, type RemoteConnInfo, type SockRemote } from "@dfly/netisr/internal";

const PEER = ipAddr("198.18.0.10");

function fakeRemote(fences: string[]): SockRemote {
  return {
    accept: async () => [],
    connect: async (cpu, req): Promise<RemoteConnInfo> => ({ cpu, id: 1, laddr: ipAddr("198.18.0.1"), lport: 40000, faddr: req.faddr, fport: req.fport }),
    send: () => undefined,
    sendSync: async (_c, _i, d) => d.length,
    shutdown: () => undefined,
    close: () => undefined,
    setsockopt: () => undefined,
    fence: (cpu, id) => fences.push(`${cpu}/${id}`),
  };
}

const bytes = (s: string) => new TextEncoder().encode(s);

async function connected(): Promise<{ s: Sockets; fd: number; fences: string[]; events: string[] }> {
  const fences: string[] = [];
  const events: string[] = [];
  const s = new Sockets({ host: new TcpHost({ ncpus: 1, local: [], output: () => undefined }), cpu: 0, owner: "app", remote: fakeRemote(fences) });
  const fd = s.socket((_fd, ev) => events.push(ev));
  s.connect(fd, PEER, 7);
  await new Promise((r) => setTimeout(r, 0));
  s.remoteEvent(0, 1, SoEvent.CONNECTED, null);
  expect(events).toEqual([SoEvent.CONNECTED]);
  return { s, fd, fences, events };
}

function readAll(s: Sockets, fd: number): string {
  let out = "";
  for (let b = s.recv(fd); b !== null && b.length > 0; b = s.recv(fd)) out += new TextDecoder().decode(b);
  return out;
}

describe("Sockets: a remote connection that moves", () => {
  it("events of the new place that came before the MOVED, and one right behind it in the same turn, are applied in arrival order", async () => {
    const { s, fd, fences } = await connected();
    s.remoteEvent(0, 1, SoEvent.READABLE, null, bytes("a"));
    // The new place (CPU 1, socket 9) speaks before the old one's MOVED reaches the program.
    s.remoteEvent(1, 9, SoEvent.READABLE, null, bytes("b"));
    // One batch of messages: the MOVED, then the new place's next event, no microtask between.
    s.remoteEvent(0, 1, SoEvent.MOVED, "1/9");
    s.remoteEvent(1, 9, SoEvent.READABLE, null, bytes("c"));
    await new Promise((r) => setTimeout(r, 0));
    s.remoteEvent(1, 9, SoEvent.READABLE, null, bytes("d"));
    expect(readAll(s, fd)).toBe("abcd");
    expect(fences).toEqual(["0/1"]);
    expect(s.info(fd).cpu).toBe(1);
  });

  it("moved twice, the second MOVED first: the stream stays in order", async () => {
    const { s, fd, fences } = await connected();
    s.remoteEvent(0, 1, SoEvent.READABLE, null, bytes("a"));
    // CPU 1 (socket 9) got it from CPU 0 and handed it on to CPU 2 (socket 4) at once; CPU 1's
    // and CPU 2's messages overtake CPU 0's MOVED.
    s.remoteEvent(1, 9, SoEvent.READABLE, null, bytes("b"));
    s.remoteEvent(1, 9, SoEvent.MOVED, "2/4");
    s.remoteEvent(2, 4, SoEvent.READABLE, null, bytes("c"));
    s.remoteEvent(0, 1, SoEvent.MOVED, "1/9");
    s.remoteEvent(2, 4, SoEvent.READABLE, null, bytes("d"));
    await new Promise((r) => setTimeout(r, 0));
    s.remoteEvent(2, 4, SoEvent.READABLE, null, bytes("e"));
    expect(readAll(s, fd)).toBe("abcde");
    expect(fences).toEqual(["0/1", "1/9"]);
    expect(s.info(fd).cpu).toBe(2);
  });
});
