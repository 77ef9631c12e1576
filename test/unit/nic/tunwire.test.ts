/**
 * The TUN wire's pure parts: DFLY_NIC_WIRE / --wire parsing, name and address checks, the
 * duplicate impairment, and TUN drops in dfly_nic_dropped_total{reason}. (The device itself is
 * exercised against Linux in test/integration/tun.)
 */
import { describe, expect, it } from "vitest";
import { checkTunAddr, checkTunName, Impairment, ifnetTopology, Nic, nicConfigFromEnv, nicInterfaceSpec, nicMetrics, parseWireSpecs, TunError } from "@dfly/nic";
import { decodeFrameBatch, encodeFrameBatch, InprocHub } from "@dfly/transport";

describe("wire specs", () => {
  it("parses ifname=tun:DEVICE and ifname=subjects", () => {
    expect([...parseWireSpecs("ix0=tun:dfly0, ix1=subjects")]).toEqual([["ix0", { tun: "dfly0" }]]);
    expect(parseWireSpecs(undefined).size).toBe(0);
  });
  it("refuses anything else with the offending entry", () => {
    expect(() => parseWireSpecs("ix0=tap:dfly0")).toThrow(/"ix0=tap:dfly0"/);
    expect(() => parseWireSpecs("ix0=tun:a-name-longer-than-15")).toThrow(/not ifname=tun:DEVICE/);
  });
  it("DFLY_NIC_WIRE names an interface the NIC has; DFLY_NIC_TUN_ADDR and DFLY_NIC_PCAP go with it", () => {
    const c = nicConfigFromEnv({ DFLY_IFNAME: "ix0,ix1", DFLY_NIC_WIRE: "ix1=tun:dfly1", DFLY_NIC_TUN_ADDR: "198.18.1.2/24", DFLY_NIC_PCAP: "/tmp/x.pcap" });
    expect(c.wires.get("ix1")).toEqual({ tun: "dfly1", addr: "198.18.1.2/24", pcap: "/tmp/x.pcap" });
    expect(() => nicConfigFromEnv({ DFLY_IFNAME: "ix0", DFLY_NIC_WIRE: "ix3=tun:dfly3" })).toThrow(/ix3 is not one of DFLY_IFNAME/);
    expect(nicConfigFromEnv({ DFLY_NIC_DUP: "0.01" }).impair.dup).toBe(0.01);
  });
  it("device names and addresses are checked before anything is opened", () => {
    expect(() => checkTunName("dfly0")).not.toThrow();
    expect(() => checkTunName("a/b")).toThrow(TunError);
    expect(() => checkTunName("sixteen-chars-xx")).toThrow(/tun sixteen-chars-xx: not a valid interface name/);
    expect(() => checkTunAddr("dfly0", "198.18.0.2/24")).not.toThrow();
    expect(() => checkTunAddr("dfly0", "198.18.0.256/24")).toThrow(/--tun-addr 198.18.0.256\/24/);
    expect(() => checkTunAddr("dfly0", "198.18.0.2")).toThrow(TunError);
  });
});

describe("duplicate impairment", () => {
  const frames = (n: number) => encodeFrameBatch(Array.from({ length: n }, (_, i) => ({ data: new Uint8Array([0x45, i & 0xff, i >> 8]), hash: i })));
  it("dup 1 sends every frame twice, in order, nothing lost", () => {
    const { batch, lost } = new Impairment({ dup: 1 }).apply(frames(5));
    expect(lost).toBe(0);
    const got = decodeFrameBatch(batch);
    if (typeof got === "string") throw new Error(got);
    expect(got.map((f) => f.hash)).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  });
  it("dup 0.01 duplicates about 1 % (seeded), and a zero setting leaves the batch as it was", () => {
    const { batch } = new Impairment({ dup: 0.01, seed: 7 }).apply(frames(10_000));
    const got = decodeFrameBatch(batch);
    if (typeof got === "string") throw new Error(got);
    expect(got.length - 10_000).toBeGreaterThan(60);
    expect(got.length - 10_000).toBeLessThan(140);
    const b = frames(3);
    expect(new Impairment({}).apply(b).batch).toBe(b);
    expect(() => new Impairment({ dup: 1.5 })).toThrow(/dup 1.5/);
  });
});

describe("TUN drops in dfly_nic_dropped_total", () => {
  it("notipv4 and oversize counted through Nic.countDrop appear by reason", async () => {
    const hub = new InprocHub();
    const t = await hub.connect();
    const nic = new Nic({ transport: t, cluster: "c", interfaces: [ifnetTopology(nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt", rings: 1 }), [0])] });
    nic.countDrop("ix0", "notipv4", 2);
    nic.countDrop("ix0", "oversize");
    const text = await nicMetrics(nic).metrics();
    expect(text).toMatch(/^dfly_nic_dropped_total\{ifname="ix0",reason="notipv4"\} 2$/m);
    expect(text).toMatch(/^dfly_nic_dropped_total\{ifname="ix0",reason="oversize"\} 1$/m);
    nic.close();
    hub.close();
  });
});
