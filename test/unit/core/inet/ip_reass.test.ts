// ip_reass against hand-built fragments (bytes written here, not by the stack's fragmenter) and RFC 791 / RFC 815 rules.
import { describe, expect, it } from "vitest";
import { IpReass } from "@dfly/core";
import { sum16 } from "../../../support/inet-sum.js";

/** 10.0.0.2 → 10.0.0.1, protocol 17, identification `id`: a 20-byte header then `data`. */
function frag(id: number, offBytes: number, mf: boolean, data: number[]): Uint8Array {
  const total = 20 + data.length;
  const fo = (mf ? 0x2000 : 0) | (offBytes >> 3);
  const h = [0x45, 0, total >> 8, total & 255, id >> 8, id & 255, fo >> 8, fo & 255, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1];
  const c = sum16(h);
  h[10] = c >> 8;
  h[11] = c & 255;
  return Uint8Array.from([...h, ...data]);
}

/** The datagram RFC 791 says the receiver reconstructs: the first fragment's header with offset 0, MF clear, the whole length. */
function whole(id: number, data: number[]): number[] {
  return [...frag(id, 0, false, data)];
}

const bytes = (n: number, v: number) => Array.from({ length: n }, (_, i) => (v + i) & 255);

function feed(r: IpReass, f: Uint8Array, now = 0): Uint8Array | null {
  return r.input(f, 0, 20, f.length, now);
}

describe("ip_reass (RFC 791 §3.2 reassembly, BSD ip_reass limits)", () => {
  it("RFC 791: fragments in any order make the original datagram (offset 0, MF clear, ip_len = whole, header checksum right)", () => {
    const r = new IpReass();
    const a = bytes(16, 0), b = bytes(16, 100), c = bytes(5, 200);
    expect(feed(r, frag(7, 16, true, b))).toBeNull();
    expect(feed(r, frag(7, 32, false, c))).toBeNull();
    const d = feed(r, frag(7, 0, true, a));
    expect(d).not.toBeNull();
    expect([...d!]).toEqual(whole(7, [...a, ...b, ...c]));
    expect(r.stats).toMatchObject({ fragments: 3, reassembled: 1, fragdropped: 0 });
    expect(r.count).toBe(0);
  });

  it("RFC 815 holes with BSD overlap rules: queued data wins over a new fragment's front; a duplicate inside queued data is dropped", () => {
    const r = new IpReass();
    const a = bytes(16, 0); // [0,16)
    const b = bytes(16, 50); // [8,24): its first 8 bytes overlap a
    feed(r, frag(9, 0, true, a));
    feed(r, frag(9, 8, true, b));
    feed(r, frag(9, 8, true, bytes(8, 99))); // wholly inside [0,24): dropped
    const d = feed(r, frag(9, 24, false, bytes(8, 150)));
    expect([...d!]).toEqual(whole(9, [...a, ...b.slice(8), ...bytes(8, 150)]));
    expect(r.stats).toMatchObject({ fragments: 4, reassembled: 1, fragdropped: 1 });
  });

  it("BSD: a new fragment frees queued ones it covers and trims the front of the one it runs into", () => {
    const r = new IpReass();
    feed(r, frag(3, 8, true, bytes(8, 10))); // [8,16): covered → freed
    feed(r, frag(3, 16, true, bytes(16, 20))); // [16,32): front [16,24) trimmed
    feed(r, frag(3, 32, false, bytes(8, 40))); // [32,40)
    const d = feed(r, frag(3, 0, true, bytes(24, 60))); // [0,24)
    expect([...d!]).toEqual(whole(3, [...bytes(24, 60), ...bytes(16, 20).slice(8), ...bytes(8, 40)]));
    expect(r.stats.fragdropped).toBe(1);
  });

  it("net.inet.ip.maxfragsperpacket: the fragment past the limit frees the queue, every fragment counted in fragdropped", () => {
    const r = new IpReass({ maxfragsperpacket: 4 });
    for (let k = 0; k < 5; k++) expect(feed(r, frag(5, k * 8, true, bytes(8, k)))).toBeNull();
    expect(r.stats).toMatchObject({ fragments: 5, fragdropped: 5, reassembled: 0 });
    expect(r.count).toBe(0);
    // The rest of that datagram starts a new queue and never completes it.
    expect(feed(r, frag(5, 40, false, bytes(8, 0)))).toBeNull();
    expect(r.count).toBe(1);
  });

  it("net.inet.ip.maxfragpackets: a new datagram beyond the limit frees the oldest (fragtimeout); 0 accepts no fragment", () => {
    const r = new IpReass({ maxfragpackets: 2 });
    feed(r, frag(1, 0, true, bytes(8, 0)));
    feed(r, frag(1, 8, true, bytes(8, 0)));
    feed(r, frag(2, 0, true, bytes(8, 0)));
    feed(r, frag(3, 0, true, bytes(8, 0)));
    expect(r.count).toBe(2);
    expect(r.stats.fragtimeout).toBe(2);
    // Datagram 1 lost its queue: its last fragment alone does not complete it.
    expect(feed(r, frag(1, 16, false, bytes(8, 0)))).toBeNull();
    const z = new IpReass({ maxfragpackets: 0 });
    expect(feed(z, frag(1, 0, true, bytes(8, 0)))).toBeNull();
    expect(z.stats).toMatchObject({ fragments: 1, fragdropped: 1 });
    expect(z.count).toBe(0);
  });

  it("IPFRAGTTL: an incomplete datagram is freed after the time to live (fragtimeout counts its fragments)", () => {
    const r = new IpReass({ fragttlMs: 30_000 });
    feed(r, frag(4, 0, true, bytes(8, 0)), 0);
    feed(r, frag(4, 8, true, bytes(8, 0)), 10);
    r.slowtimo(29_999);
    expect(r.count).toBe(1);
    r.slowtimo(30_000);
    expect(r.count).toBe(0);
    expect(r.stats.fragtimeout).toBe(2);
  });

  it("RFC 791: a non-last fragment's data is a multiple of 8 (toosmall); a datagram past 65535 is toolong", () => {
    const r = new IpReass();
    expect(feed(r, frag(6, 0, true, bytes(12, 0)))).toBeNull();
    expect(r.stats.toosmall).toBe(1);
    expect(feed(r, frag(6, 8190 * 8, false, bytes(16, 0)))).toBeNull();
    expect(r.stats.toolong).toBe(1);
    expect(r.count).toBe(0);
  });

  it("inconsistent ends: data past a known last fragment frees the queue", () => {
    const r = new IpReass();
    feed(r, frag(8, 8, false, bytes(8, 0))); // last: ends at 16
    expect(feed(r, frag(8, 16, true, bytes(8, 0)))).toBeNull();
    expect(r.count).toBe(0);
    expect(r.stats.fragdropped).toBe(2);
  });
});
