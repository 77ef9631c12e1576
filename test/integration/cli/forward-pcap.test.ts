/**
 * `dfly run --workload forward --pcap FILE`: both wires' frames (pktgen's on ix0, the
 * forwarded ones on ix1) in a pcap that tshark reads: twice the packets pktgen sent, none
 * malformed, IPv4 checksums good.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const DFLY = fileURLToPath(new URL("../../../services/cli/dist/main.js", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "dfly-fwd-pcap-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function tshark(args: string[]): string {
  const r = spawnSync("tshark", args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error || r.status !== 0) throw new Error(`tshark (scripts/setup-machine.sh installs it): ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

describe("dfly run --workload forward --pcap", () => {
  it("captures every frame of both wires", () => {
    const pcap = join(tmp, "fwd.pcap");
    const r = spawnSync(process.execPath, [DFLY, "run", "--workload", "forward", "--duration", "1s", "--rate", "2000", "--flows", "16", "--pcap", pcap, "--json"], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as { pktgen: { sent: number }; sink: { received: number } };
    expect(rep.pktgen.sent).toBeGreaterThan(500);
    const frames = tshark(["-r", pcap, "-T", "fields", "-e", "frame.number"]).split("\n").filter(Boolean).length;
    expect(frames).toBe(2 * rep.pktgen.sent);
    const bad = tshark(["-r", pcap, "-o", "ip.check_checksum:TRUE", "-Y", "_ws.malformed || ip.checksum.status == 0"]).split("\n").filter(Boolean);
    expect(bad).toEqual([]);
  }, 90_000);
});
