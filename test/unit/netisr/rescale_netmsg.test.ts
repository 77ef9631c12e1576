/**
 * The rescale netmsgs' binary codecs (rescale_netmsg.ts): what is encoded decodes to the same
 * value; a malformed message decodes to undefined, never throws, and a count larger than the
 * message can hold allocates nothing.
 */
import { describe, expect, it } from "vitest";
import type { TcpHandoverState } from "@dfly/core";
import {
  decodeChase,
  decodeHandover,
  decodeHome,
  decodeLeaving,
  encodeChase,
  encodeHandover,
  encodeHome,
  encodeLeaving,
  RescaleNetmsg,
  type HandoverMsg,
} from "@dfly/netisr/internal";

const state = (over: Partial<TcpHandoverState> = {}): TcpHandoverState => ({
  v: 1,
  laddr: 0xc6120001,
  lport: 80,
  faddr: 0xc612000a,
  fport: 40000,
  f: { t_state: 4, snd_una: 123456, rcv_nxt: 0xfffffff0, snd_wnd: 65535 },
  t: { rcvtime: -12, tsRecentAge: -3, rtttime: null, rexmt: 200, delack: null, keep: 7_000_000, twomsl: null },
  tsNow: -5,
  err: null,
  snd: new Uint8Array([1, 2, 3]),
  rcv: null,
  reass: [{ seq: 99, data: new Uint8Array([9, 9]), fin: true }],
  reassLast: 4,
  scb: [1, 2, 3, 4],
  ...over,
});

const handover = (): HandoverMsg => ({
  from: 3,
  conns: [
    { s: state(), owner: "prog", orphan: false, listener: null, oldId: 17, pend: { chunks: [new Uint8Array([5, 6])], shutdown: true, close: false } },
    { s: state({ err: "ECONNRESET", rcv: new Uint8Array(0), reass: null, scb: null }), owner: null, orphan: true, listener: "L80", oldId: 0, pend: undefined },
  ],
  syn: [
    {
      e: { laddr: 1, lport: 80, faddr: 2, fport: 3, irs: 4, iss: 5, peerMss: 1460, mss: 1460, peerWscale: -1, rcvWscale: 7, sackOk: true, tsOk: false, tsRecent: 0, peerWindow: 29200, rxtUsed: 12 },
      wnd: 65535,
      listener: "L80",
    },
  ],
});

describe("rescale_netmsg", () => {
  it("home, leaving, chase and handover decode to what was encoded", () => {
    const home = { from: 2, add: [[1, 80, 0xffffffff, 65535]] as [number, number, number, number][], forget: [[3, 4, 5, 6]] as [number, number, number, number][] };
    expect(decodeHome(encodeHome(home))).toEqual(home);
    expect(decodeLeaving(encodeLeaving(5))).toBe(5);
    const inner = new Uint8Array([0x23, 1, 2, 3]);
    const c = decodeChase(encodeChase(1, 42, inner))!;
    expect([c.from, c.oldId, [...c.inner]]).toEqual([1, 42, [...inner]]);
    const h = handover();
    const d = encodeHandover(h);
    expect(d[0]).toBe(RescaleNetmsg.handover);
    expect(decodeHandover(d)).toEqual(h);
  });

  it("a truncated or corrupted message decodes to undefined, never throws", () => {
    const msgs = [encodeHome({ from: 1, add: [[1, 2, 3, 4]], forget: [] }), encodeLeaving(1), encodeHandover(handover())];
    const decode = [decodeHome, decodeLeaving, decodeHandover] as const;
    msgs.forEach((m, i) => {
      for (let n = 0; n < m.length; n++) expect(decode[i](m.subarray(0, n))).toBeUndefined();
    });
    // Random flips never throw (the result may or may not decode).
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 255;
    const h = encodeHandover(handover());
    for (let k = 0; k < 2000; k++) {
      const x = h.slice();
      x[4 + (rnd() * 256 + rnd()) % (x.length - 4)] = rnd();
      expect(() => decodeHandover(x)).not.toThrow();
    }
    expect(decodeChase(new Uint8Array([RescaleNetmsg.chase, 0, 0, 0]))).toBeUndefined();
  });

  it("a count the message cannot hold is refused before anything is allocated", () => {
    const h = encodeHandover({ from: 1, conns: [], syn: [] }).slice();
    new DataView(h.buffer).setUint32(8, 0xfffffff0, true);
    expect(decodeHandover(h)).toBeUndefined();
    const home = encodeHome({ from: 1, add: [], forget: [] }).slice();
    new DataView(home.buffer).setUint32(8, 0x7fffffff, true);
    expect(decodeHome(home)).toBeUndefined();
  });
});
