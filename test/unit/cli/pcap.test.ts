import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { dispatch, type CliIO } from "@dfly/cli";
import {
  TcpFlags,
  buildIcmpEchoPacket,
  buildRingmap,
  buildTcpPacket,
  buildUdpPacket,
  ipAddr,
  ipFragment,
  netisrHashcpu,
  ringForHash,
  symmetric,
  toeplitzHash,
  writePcap,
} from "@dfly/core";

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "dfly-pcap-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function run(argv: string[]) {
  let out = "";
  let err = "";
  const io: CliIO = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stdin: async () => "" };
  const code = await dispatch(argv, io);
  return { code, out, err };
}

interface Flow {
  proto: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  hash: string;
  cpus: number[];
  packets: number;
  rings?: number[];
  ringCpus?: number[];
}
const lines = (out: string): Flow[] => out.trim().split("\n").map((l) => JSON.parse(l) as Flow);
const hex16 = (h: number) => "0x" + h.toString(16).padStart(4, "0");

const A = "10.0.0.1";
const B = "10.0.0.2";
const C = "192.168.7.9";

function synthetic(): string {
  const a = ipAddr(A);
  const b = ipAddr(B);
  const c = ipAddr(C);
  const frames = [
    buildTcpPacket({ src: a, dst: b, sport: 40000, dport: 80, flags: TcpFlags.SYN }),
    buildTcpPacket({ src: b, dst: a, sport: 80, dport: 40000, flags: TcpFlags.SYN | TcpFlags.ACK }),
    buildUdpPacket({ src: c, dst: a, sport: 5353, dport: 53, payload: new Uint8Array(10) }),
    buildTcpPacket({ src: a, dst: b, sport: 40000, dport: 80, flags: TcpFlags.ACK }),
    ...ipFragment(buildUdpPacket({ src: c, dst: a, sport: 5353, dport: 53, payload: new Uint8Array(3000), id: 99 }), 1000),
    buildUdpPacket({ src: a, dst: c, sport: 53, dport: 5353, payload: new Uint8Array(10) }),
    buildIcmpEchoPacket({ src: b, dst: c, echoId: 1, seq: 1 }),
    buildIcmpEchoPacket({ src: c, dst: b, echoId: 1, seq: 1, reply: true }),
    Uint8Array.from([0x60, 0, 0, 0, 0, 0, 59, 64, ...new Array(32).fill(0)]), // IPv6: not steered
  ];
  const file = join(tmp, "synthetic.pcap");
  writeFileSync(file, writePcap(frames));
  return file;
}

describe("dfly pcap flows", () => {
  it("http_google.pcapng: one connection, hash and CPU from the symmetric Toeplitz key", async () => {
    const r = await run(["pcap", "flows", fixture("http_google.pcapng"), "--cpus", "4", "--json"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const h = toeplitzHash(symmetric.hash4(ipAddr("172.16.16.128"), ipAddr("74.125.95.104"), 1606, 80));
    expect(lines(r.out)).toEqual([
      { proto: "tcp", src: "172.16.16.128", sport: 1606, dst: "74.125.95.104", dport: 80, hash: hex16(h), cpus: [netisrHashcpu(h, 4)], packets: 12 },
    ]);
  });

  it("resp_1_benchmark.pcap: 15 connections of 10 packets, each on exactly one CPU in both directions", async () => {
    const r = await run(["pcap", "flows", fixture("resp_1_benchmark.pcap"), "--cpus", "6", "--json"]);
    expect(r.code).toBe(0);
    const flows = lines(r.out);
    expect(flows.length).toBe(15);
    for (const f of flows) {
      expect(f).toMatchObject({ proto: "tcp", src: "127.0.0.1", dst: "127.0.0.1", dport: 6379, packets: 10 });
      const h = toeplitzHash(symmetric.hash4(ipAddr(f.src), ipAddr(f.dst), f.sport, f.dport));
      expect(f.hash).toBe(hex16(h));
      expect(f.cpus).toEqual([netisrHashcpu(h, 6)]);
    }
    expect(new Set(flows.map((f) => f.sport)).size).toBe(15);
  });

  it("groups both directions, orients by the first packet, keeps fragments with their datagram, skips non-IPv4", async () => {
    const file = synthetic();
    const r = await run(["pcap", "flows", file, "--cpus", "3", "--json"]);
    expect(r.code).toBe(0);
    const flows = lines(r.out);
    const cpu = (h: number) => netisrHashcpu(h, 3);
    const tcpH = toeplitzHash(symmetric.hash4(ipAddr(A), ipAddr(B), 40000, 80));
    const udpH = toeplitzHash(symmetric.hash2(ipAddr(C), ipAddr(A)));
    expect(flows).toEqual([
      { proto: "tcp", src: A, sport: 40000, dst: B, dport: 80, hash: hex16(tcpH), cpus: [cpu(tcpH)], packets: 3 },
      // 1 + 4 fragments + the reply; fragments hash the address pair like UDP itself
      { proto: "udp", src: C, sport: 5353, dst: A, dport: 53, hash: hex16(udpH), cpus: [cpu(udpH)], packets: 6 },
      // other protocols hash to 0 → CPU 0
      { proto: "icmp", src: B, sport: 0, dst: C, dport: 0, hash: "0x0000", cpus: [0], packets: 2 },
    ]);
    const table = await run(["pcap", "flows", file, "--cpus", "3"]);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^proto\s+src\s+sport\s+dst\s+dport\s+hash\s+cpus\s+packets\n/);
    expect(table.out).toMatch(new RegExp(`tcp\\s+${A}\\s+40000\\s+${B}\\s+80\\s+${hex16(tcpH)}\\s+${cpu(tcpH)}\\s+3\\n`));
    expect(table.out).toMatch(/12 packets: 11 IPv4 in 3 flows, 1 not IPv4\n$/);
  });

  it("--rings adds the RX rings the redirect table picked and the CPUs polling them", async () => {
    const r = await run(["pcap", "flows", fixture("resp_1_benchmark.pcap"), "--cpus", "8", "--rings", "2", "--json"]);
    expect(r.code).toBe(0);
    const rm = buildRingmap({ ncpus: 8, rings: 2 });
    for (const f of lines(r.out)) {
      const raw = symmetric.hash4(ipAddr(f.src), ipAddr(f.dst), f.sport, f.dport);
      const ring = ringForHash(rm.redirect, raw);
      expect(f.rings).toEqual([ring]);
      expect(f.ringCpus).toEqual([rm.ringToCpu[ring]]);
      expect(f.cpus).toEqual([netisrHashcpu(toeplitzHash(raw), 8)]); // --rings never changes the netisr CPU
    }
    const t = await run(["pcap", "flows", fixture("resp_1_benchmark.pcap"), "--cpus", "8", "--rings", "2"]);
    expect(t.out.split("\n")[0]).toMatch(/packets\s+ringCpus$/);
  });

  it("a cut-short file: flows of the packets before the cut, the problem on stderr, exit 1", async () => {
    const whole = writePcap([
      buildTcpPacket({ src: 1, dst: 2, sport: 1, dport: 2 }),
      buildTcpPacket({ src: 2, dst: 1, sport: 2, dport: 1 }),
      buildTcpPacket({ src: 1, dst: 2, sport: 1, dport: 2, payload: new Uint8Array(100) }),
    ]);
    const file = join(tmp, "cut.pcap");
    writeFileSync(file, whole.subarray(0, whole.length - 50));
    const r = await run(["pcap", "flows", file, "--cpus", "2", "--json"]);
    expect(r.code).toBe(1);
    expect(lines(r.out)).toMatchObject([{ src: "0.0.0.1", dst: "0.0.0.2", packets: 2 }]);
    expect(r.err).toMatch(/cut\.pcap: record of 140 bytes cut short \(at byte 136\); flows above are from the 2 packets before it/);
  });

  it("clear errors for missing, non-capture files and bad options", async () => {
    const missing = await run(["pcap", "flows", join(tmp, "nope.pcap"), "--cpus", "2"]);
    expect(missing).toMatchObject({ code: 1, out: "" });
    expect(missing.err).toMatch(/cannot read .*nope\.pcap: ENOENT/);
    const text = join(tmp, "text.pcap");
    writeFileSync(text, "hello, this is not a capture\n");
    const notpcap = await run(["pcap", "flows", text, "--cpus", "2"]);
    expect(notpcap.code).toBe(1);
    expect(notpcap.err).toMatch(/not a pcap or pcapng file \(magic 0x6c6c6568\) \(at byte 0\)/);
    expect((await run(["pcap", "flows", text])).code).toBe(2);
    expect((await run(["pcap", "flows", text, "--cpus", "0"])).err).toMatch(/--cpus wants a whole number in 1\.\.128, got "0"/);
    expect((await run(["pcap", "flows", "--cpus", "2"])).err).toMatch(/want one FILE/);
    expect((await run(["pcap", "flows", text, "--cpus", "2", "--bogus"])).code).toBe(2);
  });

  it("/dev/zero is refused at once (no magic) with bounded memory; an unknown link type exits 1 naming it", async () => {
    const heap = process.memoryUsage().rss;
    const t0 = Date.now();
    const z = await run(["pcap", "flows", "/dev/zero", "--cpus", "2"]);
    expect(z.code).toBe(1);
    expect(z.err).toMatch(/not a pcap or pcapng file \(magic 0x00000000\)/);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(process.memoryUsage().rss - heap).toBeLessThan(64 << 20);
    // Link type 147 (LINKTYPE_USER0): records this reader cannot take apart.
    const user0 = join(tmp, "user0.pcap");
    writeFileSync(user0, writePcap([buildUdpPacket({ src: ipAddr("10.0.0.1"), dst: ipAddr("10.0.0.2"), sport: 1, dport: 2 })], { linktype: 147 }));
    const u = await run(["pcap", "flows", user0, "--cpus", "2"]);
    expect(u.code).toBe(1);
    expect(u.err.trimEnd().split("\n")).toHaveLength(1);
    expect(u.err).toMatch(/link type 147 is not supported/);
  });
});
