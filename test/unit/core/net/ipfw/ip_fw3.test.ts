// ipfw rules, chain and states against hand-worked tables: the verdict each packet must get under a rule set, the
// lifetimes ipfw's dyn rules give each TCP flag combination (net.inet.ip.fw.dyn_*_lifetime), and the refused rules.
import { describe, expect, it } from "vitest";
import {
  buildTcpPacket,
  buildUdpPacket,
  IpfwChain,
  IpfwRuleError,
  IpfwRuleset,
  IpfwStateTable,
  ipfwStateKey,
  IPFW_DENY,
  IPFW_PASS,
  IPFW_RESET,
  IpfwDir,
  parseIpfwRule,
  formatIpfwRule,
} from "@dfly/core";

const ip = (s: string) => s.split(".").reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
const tcp = (src: string, sport: number, dst: string, dport: number, flags: number) =>
  buildTcpPacket({ src: ip(src), dst: ip(dst), sport, dport, seq: 1000, ack: 0, flags });
const udp = (src: string, sport: number, dst: string, dport: number) => buildUdpPacket({ src: ip(src), dst: ip(dst), sport, dport, payload: new Uint8Array(4) });

function chainOf(rules: string[], tables: Record<string, string[]> = {}, max = 64): IpfwChain {
  const c = new IpfwChain({ states: new IpfwStateTable({ max }) });
  c.install(IpfwRuleset.build({ rules, tables }), (n) => (n === "ix0" ? 0 : n === "ix1" ? 1 : -1));
  c.me = Uint32Array.from([ip("10.0.0.1")]);
  return c;
}
const chk = (c: IpfwChain, p: Uint8Array, dir: number = IpfwDir.in, rcvif = 0, oif = -1) => c.chk(p, 0, 20, p.length, dir, rcvif, oif);

const SYN = 0x02;
const ACK = 0x10;
const FIN = 0x01;
const RST = 0x04;

describe("ipfw rule text", () => {
  it.each([
    ["100 allow tcp from any to me 80 setup keep-state", "00100 allow tcp from any to me 80 tcpflags syn,!ack keep-state"],
    ["deny ip from 10.1.0.0/16 to any in recv ix0", "00100 deny ip from 10.1.0.0/16 to any in recv ix0"],
    ["300 skipto 500 udp from table(bad) 53,1000-2000 to not 10.0.0.0/8", "00300 skipto 500 udp from table(bad) 53,1000-2000 to not 10.0.0.0/8"],
    ["7 allow tcp from any to any limit src-addr 4", "00007 allow tcp from any to any limit src-addr 4"],
    ["8 check-state", "00008 check-state"],
    ["9 reset tcp from 1.2.3.4 to any tcpflags syn,!ack,fin", "00009 reset tcp from 1.2.3.4 to any tcpflags fin,syn,!ack"],
  ])("%s → %s", (text, canon) => {
    expect(formatIpfwRule(parseIpfwRule(text))).toBe(canon);
  });

  it.each([
    ["100 permitt ip from any to any", /unknown action "permitt"/],
    ["100 allow ip from any", /expected "to"/],
    ["100 allow ip from 10.0.0.1/8 to any", /10.0.0.1\/8/],
    ["100 allow ip from any 80 to any", /need proto tcp or udp/],
    ["500 skipto 400 ip from any to any", /skipto 400 does not go forward from rule 500/],
    ["100 allow udp from any to any setup", /needs proto tcp/],
    ["100 deny tcp from any to any keep-state", /keep-state and limit need action allow/],
    ["70000 allow ip from any to any", /outside 1-65534/],
    ["100 allow ip from any to any frobnicate", /unknown option "frobnicate"/],
  ])("refuses %s", (text, why) => {
    expect(() => parseIpfwRule(text)).toThrow(IpfwRuleError);
    expect(() => parseIpfwRule(text)).toThrow(why);
  });

  it("a set naming an unknown table or interface is refused whole", () => {
    expect(() => IpfwRuleset.build({ rules: ["100 deny ip from table(nope) to any"], tables: {} })).toThrow(/unknown table "nope"/);
    expect(() => IpfwRuleset.build({ rules: ["100 deny ip from any to any recv ix9"], tables: {} }, ["ix0", "ix1"])).toThrow(/unknown interface "ix9"/);
  });

  it("the digest depends on the canonical set only (spelling and order of equal sets agree)", () => {
    const a = IpfwRuleset.build({ rules: ["200 deny ip from any to any", "100 accept tcp from any to any 80"], tables: { t: ["10.0.0.0/8", "1.2.3.4"] } });
    const b = IpfwRuleset.build({ rules: ["100 allow tcp from any to any 80", "200 drop ip from any to any"], tables: { t: ["1.2.3.4/32", "10.0.0.0/8"] } });
    const c = IpfwRuleset.build({ rules: ["100 allow tcp from any to any 81", "200 drop ip from any to any"], tables: { t: ["1.2.3.4/32", "10.0.0.0/8"] } });
    expect(a.digest).toBe(b.digest);
    expect(a.digest).not.toBe(c.digest);
  });
});

describe("ipfw_chk", () => {
  // Hand-worked: each packet, the verdict, the rules that count it after 100 (a skipto counts, then its target).
  const c = chainOf(
    [
      "100 count ip from any to any",
      "200 deny tcp from table(blocked) to any",
      "300 skipto 600 udp from any to any 53",
      "400 reset tcp from any to me 23",
      "500 allow tcp from 192.0.2.0/24 to me 22 recv ix0",
      "550 deny udp from any to any",
      "600 allow udp from any to any 53 in",
      "700 deny ip from any to any",
    ],
    { blocked: ["198.51.100.0/24"] },
  );
  it.each([
    ["tcp from a blocked source", tcp("198.51.100.9", 1234, "10.0.0.1", 80, SYN), IpfwDir.in, 0, IPFW_DENY, 200],
    ["dns skips 550 to 600", udp("192.0.2.5", 5353, "8.8.8.8", 53), IpfwDir.in, 0, IPFW_PASS, [300, 600]],
    ["dns out does not match 600 'in'", udp("192.0.2.5", 5353, "8.8.8.8", 53), IpfwDir.out, 0, IPFW_DENY, [300, 700]],
    ["telnet to me is reset", tcp("192.0.2.5", 4000, "10.0.0.1", 23, SYN), IpfwDir.in, 0, IPFW_RESET, 400],
    ["a RST to telnet is denied, never answered", tcp("192.0.2.5", 4000, "10.0.0.1", 23, RST), IpfwDir.in, 0, IPFW_DENY, 400],
    ["ssh from 192.0.2/24 on ix0", tcp("192.0.2.5", 4000, "10.0.0.1", 22, SYN), IpfwDir.in, 0, IPFW_PASS, 500],
    ["ssh from 192.0.2/24 on ix1", tcp("192.0.2.5", 4000, "10.0.0.1", 22, SYN), IpfwDir.in, 1, IPFW_DENY, 700],
    ["other udp", udp("192.0.2.5", 5353, "8.8.8.8", 123), IpfwDir.in, 0, IPFW_DENY, 550],
  ])("%s", (_, p, dir, rcvif, verdict, rule) => {
    const rows = () => c.show().map((r) => r.packets);
    const before = rows();
    expect(chk(c, p, dir, rcvif)).toBe(verdict);
    const after = rows();
    const counted = c.show().filter((r, i) => after[i] > before[i]).map((r) => r.num);
    expect(counted).toEqual([100, ...(Array.isArray(rule) ? rule : [rule])]);
  });
});

describe("ipfw dynamic states", () => {
  const rules = ["100 check-state", "200 allow tcp from any to any setup keep-state", "300 allow udp from any to any keep-state", "400 deny ip from any to any"];

  it("both directions of a flow pass on its state; an unknown mid-flow segment is denied", () => {
    const c = chainOf(rules);
    expect(chk(c, tcp("192.0.2.5", 4000, "10.0.0.1", 80, SYN))).toBe(IPFW_PASS);
    expect(c.stats.stateCreated).toBe(1);
    expect(chk(c, tcp("10.0.0.1", 80, "192.0.2.5", 4000, SYN | ACK))).toBe(IPFW_PASS);
    expect(chk(c, tcp("192.0.2.5", 4000, "10.0.0.1", 80, ACK))).toBe(IPFW_PASS);
    expect(c.stats.stateHits).toBe(2);
    expect(chk(c, tcp("192.0.2.5", 4001, "10.0.0.1", 80, ACK))).toBe(IPFW_DENY);
  });

  // ip_fw2.c: syn 20 s; both SYNs 300 s; one FIN still 300 s; both FINs 1 s; a RST 1 s. UDP 10 s.
  it.each([
    ["SYN only", [[SYN, "fwd"]], 20],
    ["SYN, SYN-ACK", [[SYN, "fwd"], [SYN | ACK, "rev"]], 300],
    ["…, one FIN", [[SYN, "fwd"], [SYN | ACK, "rev"], [FIN | ACK, "fwd"]], 300],
    ["…, both FINs", [[SYN, "fwd"], [SYN | ACK, "rev"], [FIN | ACK, "fwd"], [FIN | ACK, "rev"]], 1],
    ["…, RST", [[SYN, "fwd"], [SYN | ACK, "rev"], [RST, "rev"]], 1],
  ] as const)("TCP %s lives %d s", (_, walk, life) => {
    const c = chainOf(rules);
    c.now = 1000;
    for (const [f, d] of walk) {
      const p = d === "fwd" ? tcp("192.0.2.5", 4000, "10.0.0.1", 80, f) : tcp("10.0.0.1", 80, "192.0.2.5", 4000, f);
      expect(chk(c, p)).toBe(IPFW_PASS);
    }
    const k = ipfwStateKey(new Int32Array(4), ip("192.0.2.5"), ip("10.0.0.1"), 4000, 80);
    expect(c.states.has(k, 6, 1000 + life - 1)).toBe(true);
    expect(c.states.has(k, 6, 1000 + life)).toBe(false);
    expect(c.tick(1000 + life, 1 << 20)).toBe(1);
    expect(c.states.size).toBe(0);
  });

  it("UDP states live 10 s and are expired by the tick", () => {
    const c = chainOf(rules);
    c.now = 50;
    expect(chk(c, udp("192.0.2.5", 5000, "10.0.0.1", 53))).toBe(IPFW_PASS);
    expect(c.tick(59, 1 << 20)).toBe(0);
    expect(c.tick(60, 1 << 20)).toBe(1);
    expect(c.stats.stateExpired).toBe(1);
  });

  it("limit src-addr 2: the third flow of a source is refused, another source is not", () => {
    const c = chainOf(["100 check-state", "200 allow tcp from any to any setup limit src-addr 2", "300 deny ip from any to any"]);
    for (const port of [1, 2]) expect(chk(c, tcp("192.0.2.5", port, "10.0.0.1", 80, SYN))).toBe(IPFW_PASS);
    expect(chk(c, tcp("192.0.2.5", 3, "10.0.0.1", 80, SYN))).toBe(IPFW_DENY);
    expect(c.stats.rejected[2]).toBe(1);
    expect(chk(c, tcp("192.0.2.6", 3, "10.0.0.1", 80, SYN))).toBe(IPFW_PASS);
  });

  it("a full table refuses the new flow (statefull), keeps the old ones", () => {
    const c = chainOf(rules, {}, 2);
    expect(chk(c, udp("192.0.2.5", 1, "10.0.0.1", 53))).toBe(IPFW_PASS);
    expect(chk(c, udp("192.0.2.5", 2, "10.0.0.1", 53))).toBe(IPFW_PASS);
    expect(chk(c, udp("192.0.2.5", 3, "10.0.0.1", 53))).toBe(IPFW_DENY);
    expect(c.stats.rejected[3]).toBe(1);
    expect(chk(c, udp("10.0.0.1", 53, "192.0.2.5", 1))).toBe(IPFW_PASS);
  });

  it("deleting the keep-state rule removes its states; counters of kept rules stay", () => {
    const c = chainOf(rules);
    chk(c, udp("192.0.2.5", 1, "10.0.0.1", 53));
    expect(c.states.size).toBe(1);
    c.install(IpfwRuleset.build({ rules: ["100 check-state", "400 deny ip from any to any"], tables: {} }), () => -1);
    expect(c.states.size).toBe(0);
    expect(c.show()[0].num).toBe(100);
  });

  it("a shared table (SharedArrayBuffer) is one table for two chains", () => {
    const sab = IpfwStateTable.sharedBuffer(16);
    const a = new IpfwChain({ states: new IpfwStateTable({ max: 16, shared: sab }) });
    const b = new IpfwChain({ states: new IpfwStateTable({ max: 16, shared: sab }) });
    for (const x of [a, b]) x.install(IpfwRuleset.build({ rules, tables: {} }), () => -1);
    expect(chk(a, udp("192.0.2.5", 1, "10.0.0.1", 53))).toBe(IPFW_PASS);
    expect(chk(b, udp("10.0.0.1", 53, "192.0.2.5", 1))).toBe(IPFW_PASS);
    expect(b.stats.stateHits).toBe(1);
    expect(a.states.size).toBe(1);
  });

  it("hand-over: states taken from one table and put in another keep flags and time left", () => {
    const a = chainOf(rules);
    const b = chainOf(rules);
    a.now = b.now = 10;
    chk(a, tcp("192.0.2.5", 4000, "10.0.0.1", 80, SYN));
    chk(a, tcp("10.0.0.1", 80, "192.0.2.5", 4000, SYN | ACK));
    const moved = a.states.take(() => true, a.now);
    expect(moved).toHaveLength(1);
    expect(b.states.put(moved[0], b.now)).toBe(true);
    expect(chk(b, tcp("192.0.2.5", 4000, "10.0.0.1", 80, ACK))).toBe(IPFW_PASS);
    expect(a.states.size).toBe(0);
  });
});
