// The net.inet sysctl table against DragonFly's defaults (shared notes §9, hand-copied here) and its parse rules.
import { describe, expect, it } from "vitest";
import {
  SYSCTL_TABLE, SysctlUnknownError, SysctlValueError, TCP_DEFAULTS, sysctlMatch, sysctlParseAssignments, sysctlPatch, sysctlRead,
} from "@dfly/core";

/** DragonFly's defaults (sysctl = value), from tcp_subr.c / tcp_input.c / tcp_syncache.c / ip_input.c / ip_icmp.c. */
const DRAGONFLY: Record<string, number> = {
  "net.inet.tcp.sack": 1,
  "net.inet.tcp.rfc1323": 1,
  "net.inet.tcp.mssdflt": 512,
  "net.inet.tcp.delayed_ack": 1,
  "net.inet.tcp.delacktime": 100,
  "net.inet.tcp.msl": 30_000,
  "net.inet.tcp.sendspace": 57344,
  "net.inet.tcp.recvspace": 57344,
  "net.inet.tcp.iwmaxsegs": 4,
  "net.inet.tcp.iwcapsegs": 4,
  "net.inet.tcp.limitedtransmit": 1,
  "net.inet.tcp.keepinit": 75_000,
  "net.inet.tcp.keepidle": 7_200_000,
  "net.inet.tcp.keepintvl": 75_000,
  "net.inet.tcp.keepcnt": 8,
  "net.inet.tcp.always_keepalive": 1,
  "net.inet.tcp.aggregate_acks": 1,
  "net.inet.tcp.rexmit_min": 30,
  "net.inet.tcp.syncookies": 1,
  "net.inet.tcp.path_mtu_discovery": 1,
  "net.inet.tcp.icmp_may_rst": 1,
  "net.inet.ip.maxfragsperpacket": 16,
  "net.inet.ip.forwarding": 1,
  "net.inet.icmp.icmplim": 200,
};

const targets = () => ({
  tcp: TCP_DEFAULTS,
  syncache: { syncookies: true },
  ip: { forwarding: true, maxfragpackets: 256, maxfragsperpacket: 16 },
  icmp: { icmplim: 200 },
});

describe("net.inet sysctl table", () => {
  it("defaults are DragonFly's, and a CPU's read of its defaults gives them", () => {
    const byName = new Map(SYSCTL_TABLE.map((o) => [o.name, o.defaultValue]));
    const read = sysctlRead(targets());
    for (const [name, v] of Object.entries(DRAGONFLY)) {
      expect(byName.get(name), name).toBe(v);
      expect(read[name], name).toBe(v);
    }
  });

  it("names and prefixes; an unknown one is an error naming it", () => {
    expect(sysctlMatch("net.inet.ip").map((o) => o.name)).toEqual(["net.inet.ip.forwarding", "net.inet.ip.maxfragpackets", "net.inet.ip.maxfragsperpacket"]);
    expect(() => sysctlMatch("net.inet.tcp.nosuch")).toThrow(new SysctlUnknownError("net.inet.tcp.nosuch"));
    expect(() => sysctlMatch("net.inet.tc")).toThrow(SysctlUnknownError);
  });

  it("values: booleans 0/1, integers in range, nothing else; all or nothing", () => {
    const ok = sysctlParseAssignments([{ name: "net.inet.tcp.sack", value: "0" }, { name: "net.inet.ip.maxfragpackets", value: "10" }]);
    expect(sysctlPatch(ok)).toEqual({ tcp: { sack: false }, syncache: {}, ip: { maxfragpackets: 10 }, icmp: {} });
    for (const [name, value, why] of [
      ["net.inet.tcp.sack", "2", "want 0 or 1"],
      ["net.inet.tcp.sack", "yes", "want 0 or 1"],
      ["net.inet.tcp.msl", "1.5", "want an integer"],
      ["net.inet.tcp.msl", "", "want an integer"],
      ["net.inet.tcp.iwmaxsegs", "3", "want 4..64"],
      ["net.inet.ip.maxfragpackets", "100000", "want 0..4096"],
    ]) {
      expect(() => sysctlParseAssignments([{ name: "net.inet.tcp.msl", value: "1000" }, { name, value }])).toThrow(
        new SysctlValueError(name, value, why),
      );
    }
  });
});
