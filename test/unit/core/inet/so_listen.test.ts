import { describe, expect, it } from "vitest";
import {
  InpcbHost,
  ListenBacklogError,
  SOMAXCONN,
  soBacklog,
  soaccept,
  soinherit,
  soqAdmits,
  soqinsque,
  soqremque,
  tcpListen,
} from "@dfly/core";

describe("listen queue (so_comp)", () => {
  it("solisten clamps the backlog to somaxconn", () => {
    expect(SOMAXCONN).toBe(128);
    expect(soBacklog(-1)).toBe(128);
    expect(soBacklog(511)).toBe(128);
    expect(soBacklog(511, 1024)).toBe(511);
    expect(soBacklog(0)).toBe(0);
    expect(() => soBacklog(1.5)).toThrow(ListenBacklogError);
  });

  it("sonewconn admits while so_qlen <= 3*so_qlimit/2 (integer division)", () => {
    const host = new InpcbHost({ ncpus: 1 });
    for (const [qlimit, max] of [
      [0, 1],
      [1, 2],
      [3, 5],
      [4, 7],
      [128, 193],
    ]) {
      const ls = tcpListen(host, { lport: 1000 + qlimit, backlog: qlimit });
      while (soqAdmits(ls)) soqinsque(ls, host.alloc(0));
      expect([qlimit, ls.qlen]).toEqual([qlimit, max]);
    }
  });

  it("accept is FIFO; soinherit appends the whole queue, in order, to the heir's tail", () => {
    const host = new InpcbHost({ ncpus: 2 });
    const a = tcpListen(host, { lport: 80, reuseport: true });
    const b = tcpListen(host, { lport: 80, reuseport: true });
    const ca = [host.alloc(0), host.alloc(1), host.alloc(0)];
    const cb = [host.alloc(1)];
    ca.forEach((c) => soqinsque(a, c));
    cb.forEach((c) => soqinsque(b, c));
    expect(soinherit(a, b)).toEqual(ca);
    expect(a.qlen).toBe(0);
    expect(b.comp).toEqual([...cb, ...ca]);
    expect(ca.every((c) => c.head === b)).toBe(true);
    expect(soqremque(ca[1])).toBe(true);
    expect(soqremque(ca[1])).toBe(false);
    expect(soaccept(b)).toBe(cb[0]);
    expect(soaccept(b)).toBe(ca[0]);
    expect(ca[0].head).toBeUndefined();
    expect(soaccept(b)).toBe(ca[2]);
    expect(soaccept(b)).toBeUndefined();
  });
});
