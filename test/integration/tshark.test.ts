/**
 * Wireshark as the judge of the wire formats: packets built by the codecs, written
 * with the pcap writer, must be read by `tshark` with checksum verification on as
 * Good, well-formed, and decoded to the values we put in; corrupted copies must be
 * judged Bad. And `dfly pcap flows` must agree with `tshark -z conv,tcp` on real
 * captures. tshark comes from scripts/setup-machine.sh; without it these tests fail.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dispatch, type CliIO } from "@dfly/cli";
import {
  ICMP,
  ICMP_UNREACH,
  TcpFlags,
  buildIcmpEchoPacket,
  buildIcmpErrorPacket,
  buildTcpPacket,
  buildUdpPacket,
  ipAddr,
  ipFragment,
  parseIpv4,
  writePcap,
} from "@dfly/core";

const tmp = mkdtempSync(join(tmpdir(), "dfly-tshark-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function tshark(args: string[]): string {
  const r = spawnSync("tshark", args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) {
    throw new Error(`tshark could not be run (${r.error.message}); install it with scripts/setup-machine.sh (Debian package "tshark")`);
  }
  if (r.status !== 0) throw new Error(`tshark ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  tshark(["--version"]);
});

const CHECKS = [
  "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
  "-o", "tcp.relative_sequence_numbers:FALSE", "-o", "tcp.analyze_sequence_numbers:FALSE",
];

const FIELDS = [
  "frame.number", "ip.checksum.status", "tcp.checksum.status", "udp.checksum.status", "icmp.checksum.status",
  "_ws.expert.severity", "_ws.malformed", "_ws.expert.message",
  "tcp.options.mss_val", "tcp.options.wscale.shift", "tcp.options.sack_perm", "tcp.options.timestamp.tsval",
  "tcp.options.timestamp.tsecr", "tcp.options.sack_le", "tcp.options.sack_re", "tcp.flags", "tcp.seq", "tcp.ack",
  "ip.opt.type", "ip.flags.df", "ip.frag_offset", "ip.fragment", "udp.length", "icmp.type", "icmp.code", "icmp.mtu",
  "ip.ttl", "ip.id",
] as const;
type Row = Record<(typeof FIELDS)[number], string>;

/** One row per frame: each field's occurrences joined with ",". */
function judge(frames: Uint8Array[], name: string): Row[] {
  const file = join(tmp, `${name}.pcap`);
  writeFileSync(file, writePcap(frames));
  const out = tshark(["-r", file, "-n", ...CHECKS, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,", ...FIELDS.flatMap((f) => ["-e", f])]);
  return out.trimEnd().split("\n").map((line) => {
    const cells = line.split("\t");
    return Object.fromEntries(FIELDS.map((f, i) => [f, cells[i] ?? ""])) as Row;
  });
}

/** Expert severities (PI_ERROR = 0x00800000). */
const PI_ERROR = 0x00800000;
const hasError = (r: Row) => r["_ws.expert.severity"].split(",").some((s) => s !== "" && Number(s) >= PI_ERROR) || r["_ws.malformed"] !== "";

const A = ipAddr("10.0.0.1");
const B = ipAddr("10.0.0.2");
const R1 = ipAddr("10.9.9.9");
const ISS = 0x10000000;

function packets() {
  const syn = buildTcpPacket({
    src: A, dst: B, sport: 40000, dport: 40001, seq: ISS, flags: TcpFlags.SYN, window: 65535, id: 1, df: true,
    options: { mss: 1460, wscale: 7, sackPermitted: true, timestamp: { val: 123456, ecr: 0 } },
  });
  const sack3 = buildTcpPacket({
    src: B, dst: A, sport: 40001, dport: 40000, seq: 5000, ack: ISS + 1, flags: TcpFlags.ACK, window: 1000, id: 2,
    options: { timestamp: { val: 654321, ecr: 123456 }, sack: [{ start: ISS + 1001, end: ISS + 2001 }, { start: ISS + 3001, end: ISS + 4001 }, { start: ISS + 5001, end: ISS + 6001 }] },
  });
  const sack4 = buildTcpPacket({
    src: B, dst: A, sport: 40001, dport: 40000, seq: 5000, ack: ISS + 1, flags: TcpFlags.ACK, id: 3,
    options: { sack: [1, 2, 3, 4].map((k) => ({ start: ISS + k * 1000 + 1, end: ISS + k * 1000 + 501 })) },
  });
  const data = buildTcpPacket({
    src: A, dst: B, sport: 40000, dport: 40001, seq: ISS + 1, ack: 5000, flags: TcpFlags.ACK | TcpFlags.PSH, id: 4,
    payload: Uint8Array.from({ length: 333 }, (_, i) => i & 0xff), ttl: 1,
  });
  const udp = buildUdpPacket({ src: A, dst: B, sport: 40002, dport: 40003, payload: Uint8Array.from({ length: 101 }, (_, i) => i), id: 5 });
  const echo = buildIcmpEchoPacket({ src: A, dst: B, echoId: 0x4242, seq: 1, payload: Uint8Array.from({ length: 56 }, (_, i) => i), id: 6 });
  const reply = buildIcmpEchoPacket({ src: B, dst: A, echoId: 0x4242, seq: 1, payload: Uint8Array.from({ length: 56 }, (_, i) => i), reply: true, id: 7 });
  const unreach = buildIcmpErrorPacket({ src: B, dst: A, type: ICMP.UNREACH, code: ICMP_UNREACH.PORT, original: udp, id: 8 });
  const needfrag = buildIcmpErrorPacket({ src: R1, dst: A, type: ICMP.UNREACH, code: ICMP_UNREACH.NEEDFRAG, original: data, mtu: 1280, id: 9 });
  const timx = buildIcmpErrorPacket({ src: R1, dst: A, type: ICMP.TIMXCEED, code: 0, original: data, id: 10 });
  const withOpts = buildTcpPacket({
    src: A, dst: B, sport: 40000, dport: 40001, seq: ISS + 334, ack: 5000, flags: TcpFlags.ACK, id: 11,
    ipOptions: [{ kind: "nop" }, { kind: "rr", pointer: 4, route: [0, 0, 0] }, { kind: "ts", pointer: 5, overflow: 0, flag: 0, data: [0, 0] }],
  });
  const routed = buildUdpPacket({
    src: A, dst: R1, sport: 40002, dport: 40003, id: 12, payload: new Uint8Array(20),
    ipOptions: [{ kind: "lsrr", pointer: 4, route: [B] }],
  });
  const big = buildUdpPacket({ src: A, dst: B, sport: 40004, dport: 40005, id: 0x777, payload: Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff), ipOptions: [{ kind: "rr", pointer: 4, route: [0] }] });
  const frags = ipFragment(big, 1000);
  return { syn, sack3, sack4, data, udp, echo, reply, unreach, needfrag, timx, withOpts, routed, frags };
}

describe("tshark judges the codecs' packets", () => {
  it("every packet: checksums Good, no malformed or error expert info, fields decoded as built", () => {
    const p = packets();
    const frames = [p.syn, p.sack3, p.sack4, p.data, p.udp, p.echo, p.reply, p.unreach, p.needfrag, p.timx, p.withOpts, p.routed, ...p.frags];
    const rows = judge(frames, "good");
    expect(rows.length).toBe(frames.length);
    for (const r of rows) {
      expect(hasError(r), `frame ${r["frame.number"]}: ${r["_ws.expert.message"]}`).toBe(false);
      // every IP header, the quoted ones inside ICMP errors too
      expect(r["ip.checksum.status"].split(",").every((s) => s === "1"), `frame ${r["frame.number"]} ip ${r["ip.checksum.status"]}`).toBe(true);
    }
    const [syn, sack3, sack4, data, udp, echo, reply, unreach, needfrag, timx, withOpts, routed] = rows;
    const frags = rows.slice(12);
    for (const r of [syn, sack3, sack4, data, withOpts]) expect(r["tcp.checksum.status"]).toBe("1");
    expect(syn).toMatchObject({
      "tcp.options.mss_val": "1460", "tcp.options.wscale.shift": "7", "tcp.options.timestamp.tsval": "123456",
      "tcp.options.timestamp.tsecr": "0", "tcp.flags": "0x0002", "tcp.seq": String(ISS), "ip.flags.df": "1",
    });
    expect(syn["tcp.options.sack_perm"]).not.toBe("");
    expect(sack3["tcp.options.sack_le"]).toBe([1001, 3001, 5001].map((x) => ISS + x).join(","));
    expect(sack3["tcp.options.sack_re"]).toBe([2001, 4001, 6001].map((x) => ISS + x).join(","));
    expect(sack3["tcp.options.timestamp.tsecr"]).toBe("123456");
    expect(sack4["tcp.options.sack_le"].split(",").length).toBe(4);
    expect(data).toMatchObject({ "tcp.flags": "0x0018", "ip.ttl": "1" });
    expect([udp["udp.checksum.status"], udp["udp.length"]]).toEqual(["1", "109"]);
    for (const r of [echo, reply, unreach, needfrag, timx]) expect(r["icmp.checksum.status"]).toBe("1");
    expect([echo["icmp.type"], reply["icmp.type"]]).toEqual(["8", "0"]);
    expect([unreach["icmp.type"], unreach["icmp.code"]]).toEqual(["3", "3"]);
    expect([needfrag["icmp.code"], needfrag["icmp.mtu"]]).toEqual(["4", "1280"]);
    expect([timx["icmp.type"], timx["icmp.code"]]).toEqual(["11", "0"]);
    // the quoted datagrams' IP headers were checked too (two statuses: outer and quoted)
    expect(timx["ip.checksum.status"]).toBe("1,1");
    expect(withOpts["ip.opt.type"].split(",").map(Number)).toEqual([1, 7, 68]);
    expect(routed["udp.checksum.status"]).toBe("1"); // pseudo-header with the source route's final destination
    // fragments: 8-byte aligned offsets, reassembled by tshark, the UDP checksum over the whole datagram Good
    expect(frags.map((r) => Number(r["ip.frag_offset"]) * 8)).toEqual(p.frags.map((f) => { const r = parseIpv4(f); return r.ok ? r.ip.fragOffset : -1; }));
    expect(frags.length).toBe(4);
    const last = frags[frags.length - 1];
    expect(last["ip.fragment"]).toBe(frags.map((r) => r["frame.number"]).join(","));
    expect([last["udp.checksum.status"], last["udp.length"]]).toEqual(["1", "3008"]);
  });

  it("a corrupted copy of each is judged Bad", () => {
    const p = packets();
    const flip = (f: Uint8Array, i: number) => {
      const g = f.slice();
      g[i < 0 ? g.length + i : i] ^= 0x10;
      return g;
    };
    const frames = [
      flip(p.syn, 8), // TTL: IP header checksum
      flip(p.data, -1), // TCP payload
      flip(p.sack3, 20 + 30), // inside the SACK option
      flip(p.udp, -3), // UDP payload
      flip(p.echo, -1), // ICMP data
      flip(p.routed, 26), // UDP checksum field itself
    ];
    const [ipBad, tcpData, tcpOpt, udpBad, icmpBad, udpSum] = judge(frames, "bad");
    expect(ipBad["ip.checksum.status"]).toBe("0");
    expect(tcpData["tcp.checksum.status"]).toBe("0");
    expect(tcpOpt["tcp.checksum.status"]).toBe("0");
    expect(udpBad["udp.checksum.status"]).toBe("0");
    expect(icmpBad["icmp.checksum.status"]).toBe("0");
    expect(udpSum["udp.checksum.status"]).toBe("0");
    // Wireshark files bad IP/TCP/UDP checksums as expert errors (its ICMP one is a warning)
    for (const r of [ipBad, tcpData, tcpOpt, udpBad, udpSum]) expect(hasError(r), `frame ${r["frame.number"]}`).toBe(true);
    expect(icmpBad["_ws.expert.message"]).toMatch(/[Bb]ad checksum/);
  });
});

async function flowsJson(file: string): Promise<Array<{ proto: string; src: string; sport: number; dst: string; dport: number; packets: number }>> {
  let out = "";
  let err = "";
  const io: CliIO = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stdin: async () => "" };
  const code = await dispatch(["pcap", "flows", file, "--cpus", "4", "--json"], io);
  if (code !== 0) throw new Error(`dfly pcap flows ${file} exited ${code}: ${err}`);
  return out.trim().split("\n").map((l) => JSON.parse(l));
}

/** tshark's TCP conversations: "a:p-b:p" (sorted) → total frames. */
function tsharkConversations(file: string): Map<string, number> {
  const out = tshark(["-r", file, "-n", "-q", "-z", "conv,tcp"]);
  const conv = new Map<string, number>();
  for (const line of out.split("\n")) {
    const m = /^(\S+):(\d+)\s+<->\s+(\S+):(\d+)\s+\d+\s+\d+\s+\S+\s+\d+\s+\d+\s+\S+\s+(\d+)\s/.exec(line);
    if (!m) continue;
    const a = `${m[1]}:${m[2]}`;
    const b = `${m[3]}:${m[4]}`;
    conv.set(a < b ? `${a}-${b}` : `${b}-${a}`, Number(m[5]));
  }
  return conv;
}

describe("dfly pcap flows agrees with tshark -z conv,tcp", () => {
  const fixtures = fileURLToPath(new URL("../fixtures/", import.meta.url));
  const shared = fileURLToPath(new URL("../../../shared/testdata/", import.meta.url));
  // The fixtures always; the large capture of ../shared when it is there.
  const files = [join(fixtures, "http_google.pcapng"), join(fixtures, "resp_1_benchmark.pcap"), join(shared, "http_espn.pcapng")].filter(
    (f, i) => i < 2 || existsSync(f),
  );

  it(`same connections and packets per connection (${files.length} captures)`, async () => {
    for (const file of files) {
      const want = tsharkConversations(file);
      expect(want.size, file).toBeGreaterThan(0);
      const got = new Map<string, number>();
      for (const f of await flowsJson(file)) {
        if (f.proto !== "tcp") continue;
        const a = `${f.src}:${f.sport}`;
        const b = `${f.dst}:${f.dport}`;
        got.set(a < b ? `${a}-${b}` : `${b}-${a}`, f.packets);
      }
      expect(got, file).toEqual(want);
    }
  });
});
