import { describe, expect, it } from "vitest";
import { encodeFrameBatch } from "@dfly/transport";
import { IFPOLL, IopollCtx, RxRing } from "@dfly/netisr/internal";

/** Runs one tick the way the netisr does; `work(cycles)` returns µs spent per round. */
function tick(ctx: IopollCtx, t0: number, handlers: number, workUsPerFrame: number): { t: number; perHandler: number } {
  let t = t0;
  ctx.clock(t);
  let perHandler = 0;
  do {
    const cycles = ctx.handler(t);
    perHandler += cycles;
    t += cycles * handlers * workUsPerFrame;
  } while (ctx.more(t));
  return { t, perHandler };
}

describe("IopollCtx (sys/net/if_poll.c)", () => {
  // sys/net/if_poll.c: IFPOLL_FREQ_DEFAULT 6000, IOPOLL_BURST_MAX 250, IOPOLL_EACH_BURST 50, and
  // iopoll_ctx_create() -> iopoll_reset_state(): poll_burst = poll_each_burst.
  it("starts at poll_burst = poll_each_burst (50) and gives each handler min(residual, each_burst) per round", () => {
    const ctx = new IopollCtx();
    expect([ctx.pollhz, ctx.burstMax, ctx.eachBurst, ctx.pollBurst]).toEqual([6000, 250, 50, 50]);
    ctx.clock(0);
    expect(ctx.handler(0)).toBe(50);
    expect(ctx.more(1)).toBe(false);
    expect(ctx.pollBurst).toBe(51); // light load: one step up
  });

  it("a tuned each_burst is also the starting burst (each_burst 8 -> poll_burst 8, rounds of 8)", () => {
    const ctx = new IopollCtx({ eachBurst: 8 });
    expect(ctx.pollBurst).toBe(8);
    ctx.clock(0);
    expect(ctx.handler(0)).toBe(8);
    expect(ctx.more(1)).toBe(false);
    expect(ctx.pollBurst).toBe(9);
  });

  it("grows to burst_max under light load, splitting each tick into each_burst rounds", () => {
    const ctx = new IopollCtx();
    let t = 0;
    for (let i = 0; i < 400; i++) t = tick(ctx, t + 1e6 / 6000, 1, 0.01).t;
    expect(ctx.pollBurst).toBe(IFPOLL.BURST_MAX_DEFAULT);
    const rounds: number[] = [];
    ctx.clock(t);
    do rounds.push(ctx.handler(t));
    while (ctx.more(t));
    expect(rounds).toEqual([50, 50, 50, 50, 50]);
  });

  it("shrinks the burst when a tick's work exceeds 100 - user_frac percent of the tick", () => {
    const ctx = new IopollCtx({ burstMax: 100 });
    let t = 0;
    for (let i = 0; i < 200; i++) t = tick(ctx, t + 1e6 / 6000, 1, 0.01).t;
    expect(ctx.pollBurst).toBe(100);
    // 2 µs per frame: 100 frames = 200 µs > 50% of a 166 µs tick.
    for (let i = 0; i < 20; i++) t = tick(ctx, t + 1e6 / 6000, 1, 2).t;
    expect(ctx.pollBurst).toBe(80);
    expect(ctx.kernFrac).toBeGreaterThan(50);
  });

  it("missed ticks (pending polls) cut the burst by 1/8 and poll again; >100 pending is a stall", () => {
    const ctx = new IopollCtx();
    ctx.pollBurst = 80;
    ctx.clock(0);
    ctx.clock(200); // a second systimer tick while the first poll is still pending
    expect(ctx.lostPolls).toBe(1);
    let rounds = 0;
    let again = true;
    while (again) {
      ctx.handler(300);
      rounds++;
      again = ctx.more(301);
    }
    expect(ctx.pendingPolls).toBe(0);
    expect(ctx.pollBurst).toBeLessThan(81);
    expect(rounds).toBeGreaterThan(2);
    const s = new IopollCtx();
    for (let i = 0; i < 102; i++) s.clock(i * 200);
    s.clock(102 * 200);
    expect(s.stalled).toBe(1);
  });

  it("clamps tunables like the sysctls", () => {
    const c = new IopollCtx({ burstMax: 1, eachBurst: 9999, pollhz: 99999 });
    expect([c.burstMax, c.eachBurst, c.pollhz]).toEqual([IFPOLL.MIN_BURST_MAX, IFPOLL.MIN_BURST_MAX, IFPOLL.FREQ_MAX]);
    expect(() => new IopollCtx({ pollhz: 0 })).toThrow(/pollhz/);
  });
});

describe("RxRing", () => {
  const batch = (n: number) => encodeFrameBatch(Array.from({ length: n }, (_, i) => ({ data: new Uint8Array([i]), hash: 0 })));
  it("hands out at most n frames per take, in batch pieces, whole when a batch fits", () => {
    const r = new RxRing(100);
    r.push(batch(30), 30, 0);
    r.push(batch(30), 30, 0);
    const pieces: [number, number, boolean][] = [];
    expect(r.take(40, (_b, from, to, whole) => pieces.push([from, to, whole]))).toBe(40);
    expect(pieces).toEqual([[0, 30, true], [0, 10, false]]);
    expect(r.occupancy).toBe(20);
    pieces.length = 0;
    r.take(50, (_b, from, to, whole) => pieces.push([from, to, whole]));
    expect(pieces).toEqual([[10, 30, false]]);
    expect(r.empty).toBe(true);
    expect(r.room()).toBe(100);
  });
});
