/**
 * tshark judges a capture of the TUN device (dfly run --pcap: every packet that crossed it,
 * both directions): curl, ab (short and keep-alive), echo and discard against our servers.
 * No malformed packets, no bad IPv4/TCP checksums, no expert errors on our packets, every
 * TCP conversation complete (SYN, SYN-ACK, ACK, FIN), and the Linux peer negotiated window
 * scaling, timestamps and SACK with us (its SYN offers them, our SYN-ACK accepts them).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedBytes, LINUX, Netns, requireTools, sha256, STACK, startServe, type Proc } from "./netns.js";

const CHECK = ["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"];

function tshark(args: string[]): string {
  const r = spawnSync("tshark", args, { encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.error || r.status !== 0) throw new Error(`tshark ${args.join(" ")}: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}
const lines = (s: string) => s.split("\n").filter(Boolean);

describe("tshark on a capture of the TUN device", () => {
  let ns: Netns;
  let serve: Proc;
  const dir = mkdtempSync(join(tmpdir(), "dfly-tun-cap-"));
  const pcap = join(dir, "tun.pcap");
  beforeAll(async () => {
    requireTools(["curl", "curl"], ["ab", "apache2-utils"], ["tshark", "tshark"]);
    ns = new Netns("cap");
    serve = await startServe(ns, ["--pcap", pcap]);
    const get = (p: string) => ns.exec(["curl", "-sS", "--fail", "--max-time", "20", `http://${STACK}${p}`]);
    expect(get("/").stdout.length).toBe(1024);
    expect(sha256(get("/bytes/1000000").stdout)).toBe(sha256(expectedBytes(1_000_000)));
    expect(ns.exec(["ab", "-q", "-n", "300", "-c", "16", `http://${STACK}/`]).status).toBe(0);
    expect(ns.exec(["ab", "-q", "-k", "-n", "300", "-c", "16", `http://${STACK}/`]).status).toBe(0);
    const echo = ns.exec(["sh", "-c", `head -c 200000 /dev/zero | tr '\\0' e | socat -t 5 - TCP:${STACK}:7`], 30_000);
    expect(echo.stdout.length).toBe(200_000);
    expect(ns.exec(["sh", "-c", `head -c 200000 /dev/zero | socat -u - TCP:${STACK}:9`], 30_000).status).toBe(0);
    // Let the last FINs and ACKs cross, then stop (the capture file is closed on exit).
    await new Promise((r) => setTimeout(r, 500));
    expect(await serve.stop()).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    await ns?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("no malformed packets, no bad checksums, no expert errors on our packets", () => {
    expect(Number(lines(tshark(["-r", pcap, "-T", "fields", "-e", "frame.number"])).length)).toBeGreaterThan(1000);
    expect(lines(tshark(["-r", pcap, ...CHECK, "-Y", "_ws.malformed"]))).toEqual([]);
    const badSum = "ip.checksum.status == 0 || tcp.checksum.status == 0";
    const bad = lines(tshark(["-r", pcap, ...CHECK, "-Y", badSum]));
    // On failure the offending frames are shown whole (dissection and bytes): the capture is gone after the run.
    expect(bad, bad.length > 0 ? tshark(["-r", pcap, ...CHECK, "-Y", badSum, "-V", "-x"]).slice(0, 20_000) : "").toEqual([]);
    expect(lines(tshark(["-r", pcap, ...CHECK, "-Y", `ip.src == ${STACK} && _ws.expert.severity == error`]))).toEqual([]);
  });

  it("every TCP conversation is complete", () => {
    const max = new Map<string, number>();
    for (const l of lines(tshark(["-r", pcap, "-2", "-T", "fields", "-e", "tcp.stream", "-e", "tcp.completeness"]))) {
      const [s, c] = l.split("\t");
      max.set(s, Math.max(max.get(s) ?? 0, Number(c)));
    }
    expect(max.size).toBeGreaterThanOrEqual(300 + 2 + 2);
    const incomplete = [...max].filter(([, c]) => (c & 0x17) !== 0x17);
    expect(incomplete).toEqual([]);
  });

  it("Linux offered window scaling, timestamps and SACK, and our SYN-ACK accepted all three", () => {
    const f = ["-T", "fields", "-e", "tcp.options.wscale.shift", "-e", "tcp.options.sack_perm", "-e", "tcp.options.timestamp.tsval"];
    const syn = lines(tshark(["-r", pcap, "-Y", `tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.src == ${LINUX}`, ...f]));
    const synack = lines(tshark(["-r", pcap, "-Y", `tcp.flags.syn == 1 && tcp.flags.ack == 1 && ip.src == ${STACK}`, ...f]));
    expect(syn.length).toBeGreaterThanOrEqual(300 + 2 + 2);
    expect(synack.length).toBeGreaterThanOrEqual(syn.length);
    for (const l of [...syn, ...synack]) {
      const [ws, sack, ts] = l.split("\t");
      expect(ws, l).toMatch(/^\d+$/);
      expect(sack, l).not.toBe("");
      expect(ts, l).toMatch(/^\d+$/);
    }
  });
});
