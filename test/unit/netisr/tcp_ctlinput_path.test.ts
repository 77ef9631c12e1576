/**
 * The whole path of an ICMP error on a netisr CPU (startNetisr's wiring): ip_input → icmp →
 * tcp_ctlinput of the CPU's TCP. A program connects; a hand-built ICMP port unreachable quoting its
 * SYN (RFC 792 layout) aborts the connect with ECONNREFUSED (BSD icmp_may_rst, tcp_drop_syn_sent).
 */
import { afterEach, describe, expect, it } from "vitest";
import { ipAddr } from "@dfly/core";
import { startNetisr, SoEvent } from "@dfly/netisr/internal";
import { encodeFrameBatch } from "@dfly/transport";
import { inprocTransport } from "../../support/inproc.js";
import { withSum } from "../../support/inet-sum.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f().catch(() => undefined);
});

const be32 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

describe("ICMP port unreachable reaches the connection (netisr → tcp_ctlinput)", () => {
  it("aborts a connect in SYN_SENT with ECONNREFUSED", async () => {
    const t = await inprocTransport(cleanups);
    const topology = {
      epoch: 1,
      cpus: [0],
      rssKey: "6d5a".repeat(20),
      interfaces: [{ ifname: "ix0", model: "82599", mode: "interrupt", rings: 1, ringToCpu: [0], redirect: new Array(128).fill(0), addresses: ["198.18.0.1/24"] }],
    };
    const h = await startNetisr({ transport: t, cluster: "c", cpu: 0, topology, routes: [{ prefix: "198.18.0.0/24", ifname: "ix0" }] });
    cleanups.push(() => h.stop());
    const s = h.tcp!.sockets("app");
    const evs: [SoEvent, string | null][] = [];
    const fd = s.socket((_fd, ev, err) => void evs.push([ev, err]));
    s.connect(fd, ipAddr("198.18.0.9"), 7777);
    const i = s.info(fd);
    expect(i.state).toBe("SYN_SENT");
    const tp = h.tcp!.host!.pcb.pcbinfo[0].lookupConn(i.faddr, i.fport, i.laddr, i.lport)!.ppcb!;
    // 198.18.0.9 → us: port unreachable, quoting our SYN's IP header and first 8 TCP bytes.
    const inner = withSum([0x45, 0, 0, 44, 0, 1, 0x40, 0, 64, 6, 0, 0, ...be32(i.laddr), ...be32(i.faddr)], 10);
    const th = [i.lport >> 8, i.lport & 255, i.fport >> 8, i.fport & 255, ...be32(tp.iss >>> 0)];
    const icmp = withSum([3, 3, 0, 0, 0, 0, 0, 0, ...inner, ...th], 2);
    const total = 20 + icmp.length;
    const ip = withSum([0x45, 0, 0, total, 0, 9, 0, 0, 64, 1, 0, 0, 198, 18, 0, 9, ...be32(i.laddr)], 10);
    h.service.netisr.portFrames(encodeFrameBatch([{ data: Uint8Array.from([...ip, ...icmp]), hash: 0 }]));
    await new Promise((r) => setTimeout(r, 20));
    expect(evs).toContainEqual([SoEvent.ERROR, "ECONNREFUSED"]);
    expect(h.tcp!.host!.cpus[0]!.stats.ctlinput).toBe(1);
  });
});
