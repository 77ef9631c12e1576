/**
 * Loss recovery and ECN against Linux through the TUN wire, in namespaces the tests create:
 *   - Linux with net.ipv4.tcp_ecn=1 (set inside the namespace) and our stack with ecn on
 *     agree to ECN in the handshake; tshark reads the capture (RFC 3168 §6.1.1 flags, ECT(0)
 *     on our data) and the counters agree;
 *   - with the NIC's impairments (loss, reordering, duplicates, a delay spike past the RTO) a
 *     download and an echoed upload complete intact, and the counters show Eifel, NCR and
 *     D-SACK acting. The sizes keep it short; `node scripts/tun-recovery.mjs` is the 200 MB form.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedBytes, Netns, requireTools, sha256, STACK, startServe, type Proc } from "./netns.js";

const SCRIPT = fileURLToPath(new URL("../../../scripts/tun-recovery.mjs", import.meta.url));

describe("ECN with Linux (net.ipv4.tcp_ecn=1)", () => {
  let ns: Netns;
  let serve: Proc;
  let dir: string;
  beforeAll(async () => {
    requireTools(["curl", "curl"], ["tshark", "tshark"], ["sysctl", "procps"]);
    ns = new Netns("ecn");
    const r = ns.exec(["sysctl", "-qw", "net.ipv4.tcp_ecn=1"]);
    if (r.status !== 0) throw new Error(`sysctl net.ipv4.tcp_ecn=1 in the namespace: ${r.stderr}`);
    dir = mkdtempSync(join(tmpdir(), "tcprec-ecn-"));
    serve = await startServe(ns, ["--tcp", "ecn=1", "--pcap", join(dir, "ecn.pcap")]);
  });
  afterAll(async () => {
    await serve?.stop();
    await ns?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("Linux's SYN asks (ECE|CWR), our SYN|ACK agrees (ECE alone), our data is ECT(0); ecn_shs counts it", async () => {
    const n = 1_000_000;
    const r = ns.exec(["curl", "-sS", "--fail", "--max-time", "30", `http://${STACK}/bytes/${n}`], 35_000);
    expect(r.status).toBe(0);
    expect(sha256(r.stdout)).toBe(sha256(expectedBytes(n)));
    expect(await serve.stop()).toBe(0);
    const out = JSON.parse(serve.stdout) as { tcp: Record<string, number> };
    expect(out.tcp.ecn_shs).toBeGreaterThanOrEqual(1);
    expect(out.tcp.ecn_ect0).toBeGreaterThan(600); // 1 MB in 1448-byte segments, all new data
    const t = spawnSync("tshark", ["-r", join(dir, "ecn.pcap"), "-T", "fields", "-E", "separator=,",
      "-e", "ip.src", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.flags.ece", "-e", "tcp.flags.cwr", "-e", "ip.dsfield.ecn", "-e", "tcp.len"], { encoding: "utf8" });
    expect(t.status).toBe(0);
    const rows = t.stdout.trim().split("\n").map((l) => l.split(","));
    const flag = (v: string) => v === "1" || v === "True";
    const syn = rows.find((f) => f[0] === "198.18.0.2" && flag(f[1]) && !flag(f[2]))!;
    const synAck = rows.find((f) => f[0] === STACK && flag(f[1]) && flag(f[2]))!;
    expect([flag(syn[3]), flag(syn[4])]).toEqual([true, true]);
    expect([flag(synAck[3]), flag(synAck[4])]).toEqual([true, false]);
    const ours = rows.filter((f) => f[0] === STACK && Number(f[6]) > 0);
    expect(ours.length).toBeGreaterThan(600);
    expect(ours.every((f) => f[5] === "2")).toBe(true); // ECT(0); nothing is retransmitted on a clean wire
  }, 60_000);
});

describe("impaired transfers each way (loss 1 %, reorder 2 %, duplicate 0.5 %, a 400 ms delay spike every 2 s)", () => {
  beforeAll(() => requireTools(["curl", "curl"], ["sysctl", "procps"]));

  it("complete intact, and Eifel, NCR and D-SACK act (tcpstat)", () => {
    const r = spawnSync(process.execPath, [SCRIPT, "--bytes", "12000000", "--echo-bytes", "4000000", "--tcp", "ecn=1"], { encoding: "utf8", timeout: 100_000 });
    if (r.status !== 0) throw new Error(`tun-recovery exited ${r.status}: ${r.stderr}`);
    const out = JSON.parse(r.stdout) as {
      down: { intact: boolean }; up: { intact: boolean }; counters: Record<string, number>; nicDropped: Record<string, number>;
    };
    expect(out.down.intact).toBe(true);
    expect(out.up.intact).toBe(true);
    const c = out.counters;
    const why = JSON.stringify(c);
    expect(out.nicDropped.impair_loss).toBeGreaterThan(20);
    // The spike outlasts our RTO; the originals' ACKs echo older timestamps: RFC 3522 undoes the timeouts.
    expect(c.rexmttimeo, why).toBeGreaterThan(0);
    expect(c.eifeldetected, why).toBeGreaterThan(0);
    expect(c.sndrtobad, why).toBeGreaterThan(0);
    // NCR held back fast retransmits a fixed DupThresh of 3 would have sent.
    expect(c.ncrheld, why).toBeGreaterThan(0);
    // Linux D-SACKs our duplicates and spurious retransmissions; we D-SACK Linux's.
    expect(c.rcvdsack, why).toBeGreaterThan(0);
    expect(c.snddsackopt, why).toBeGreaterThan(0);
    // Two connections ask for ECN; a SYN or SYN|ACK lost to the 1 % loss makes Linux retry without it
    // (RFC 3168 §6.1.1.1 fallback, Linux's tcp_ecn_fallback), so at least one negotiates.
    expect(c.ecn_shs, why).toBeGreaterThanOrEqual(1);
  }, 110_000);
});
