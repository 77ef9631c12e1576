/**
 * `dfly run --loss P`: the report says where every lost packet went. The counts come from
 * pktgen (sent) and the sink (received) — independent of the report's accounting — and the
 * NIC's and CPUs' drop counters: sent = received + NIC drops + CPU drops.
 */
import { describe, expect, it } from "vitest";
import { runCli as run } from "../../support/cli.js";

type Report = {
  pktgen: { sent: number };
  sink: { pktgen: number };
  totals: { forwarded: number; dropped: number };
  nic: Record<string, { dropped: Record<string, number> }>;
  accounting: { sent: number; received: number; nicDropped: number; cpuDropped: number; unaccounted: number };
};

describe("dfly run --loss: NIC drops in the report", () => {
  it("--json: sent = received + NIC drops (impair_loss on ix1) + CPU drops", { timeout: 60_000 }, async () => {
    const r = await run("run", "--loss", "0.01", "--cpus", "3", "--duration", "1s", "--rate", "30000", "--json");
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as Report;
    const nicDrops = Object.values(j.nic).reduce((n, i) => n + Object.values(i.dropped).reduce((a, b) => a + b, 0), 0);
    expect(j.pktgen.sent).toBe(j.sink.pktgen + nicDrops + j.totals.dropped);
    const loss = j.nic.ix1.dropped.impair_loss;
    // Binomial(forwarded, 0.01): within 6 standard deviations.
    const n = j.totals.forwarded;
    expect(Math.abs(loss - n * 0.01)).toBeLessThan(6 * Math.sqrt(n * 0.01 * 0.99));
    expect(j.accounting).toEqual({ sent: j.pktgen.sent, received: j.sink.pktgen, nicDropped: nicDrops, cpuDropped: j.totals.dropped, unaccounted: 0 });
  });

  it("text: the NIC's drops by reason and the sum", { timeout: 60_000 }, async () => {
    const r = await run("run", "--loss", "0.02", "--cpus", "2", "--duration", "500ms", "--rate", "20000");
    expect(r.code, r.err).toBe(0);
    const m = /^ {2}nic ix1: dropped (\d+) \(impair_loss=(\d+): lost on the link/m.exec(r.out);
    expect(m, r.out).not.toBeNull();
    expect(m![1]).toBe(m![2]);
    const w = /^ {2}where: {2}sent (\d+) = received (\d+) \+ NIC drops (\d+) \+ CPU drops (\d+)$/m.exec(r.out);
    expect(w, r.out).not.toBeNull();
    const [sent, received, nic, cpu] = w!.slice(1).map(Number);
    expect(sent).toBe(received + nic + cpu);
    expect(nic).toBe(Number(m![1]));
    expect(r.out).toMatch(new RegExp(`pktgen: sent ${sent} `));
    expect(r.out).toMatch(new RegExp(`sink: +received ${received} forwarded`));
  });
});
