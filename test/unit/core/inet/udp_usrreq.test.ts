/**
 * udp_input() on one CPU's udbinfo (sys/netinet/udp_usrreq.c): every datagram counted in
 * udps_ipackets, bad ones dropped under their udpstat name, delivery to the connected PCB,
 * else the one bound to the destination address, else the wildcard one. Datagrams are built
 * by hand (test/support/udp-ref.ts), never by the codec under test.
 */
import { describe, expect, it } from "vitest";
import { UdpBindError, UdpPcbInfo, UdpStats, udpInput, type UdpDatagram, type UdpPcb } from "@dfly/core";
import { addrOf, udpDatagramRef, type UdpRefInit } from "../../../support/udp-ref.js";

const ME = addrOf("198.18.0.1");
const PEER = addrOf("198.18.3.4");

function pcb(laddr: number, lport: number, got: UdpDatagram[], faddr = 0, fport = 0, room = Infinity): UdpPcb {
  return { laddr, lport, faddr, fport, deliver: (d) => (got.length < room ? (got.push(d), true) : false) };
}

function input(info: UdpPcbInfo, st: UdpStats, o: Partial<UdpRefInit>, iplenCut = 0) {
  const b = udpDatagramRef({ src: PEER, dst: ME, sport: 5000, dport: 53, data: [1, 2, 3, 4], ...o });
  const iplen = ((b[2] << 8) | b[3]) - iplenCut;
  return udpInput(info, st, b, 0, 20, iplen);
}

describe("udp_input header checks", () => {
  it("short header, bad length, bad checksum are counted drops; a zero checksum is accepted (udps_nosum)", () => {
    const info = new UdpPcbInfo(0);
    const st = new UdpStats();
    const got: UdpDatagram[] = [];
    info.insert(pcb(0, 53, got));
    expect(input(info, st, { data: [] }, 4)).toBe("hdrops"); // 4 bytes of UDP: no header
    expect(input(info, st, { ulen: 40 })).toBe("badlen"); // uh_ulen past the IP payload
    expect(input(info, st, { ulen: 7 })).toBe("badlen"); // uh_ulen below the header
    expect(input(info, st, { badsum: true })).toBe("badsum");
    const nosum = udpDatagramRef({ src: PEER, dst: ME, sport: 5000, dport: 53, data: [9] });
    nosum[26] = nosum[27] = 0;
    expect(udpInput(info, st, nosum, 0, 20, nosum.length)).toBe("delivered");
    expect(st).toMatchObject({ udps_ipackets: 5, udps_hdrops: 1, udps_badlen: 2, udps_badsum: 1, udps_nosum: 1, udps_noport: 0 });
    expect(got.map((d) => [...d.data])).toEqual([[9]]);
  });

  it("a shorter uh_ulen trims the data to it (trailing bytes of the IP payload are not data)", () => {
    const info = new UdpPcbInfo(2);
    const st = new UdpStats();
    const got: UdpDatagram[] = [];
    info.insert(pcb(0, 53, got));
    // uh_ulen 10 with 4 data bytes: the checksum then covers only 10 bytes, so build it with 2 and pad.
    const b = udpDatagramRef({ src: PEER, dst: ME, sport: 5000, dport: 53, data: [7, 8] });
    const padded = new Uint8Array(b.length + 2);
    padded.set(b);
    padded[3] += 2;
    expect(udpInput(info, st, padded, 0, 20, padded.length)).toBe("delivered");
    expect(got[0]).toMatchObject({ src: PEER, sport: 5000, dst: ME, dport: 53, cpu: 2 });
    expect([...got[0].data]).toEqual([7, 8]);
  });
});

describe("PCB lookup and delivery", () => {
  it("connected before bound-to-address before wildcard; nobody → udps_noport; a full queue → udps_fullsock", () => {
    const info = new UdpPcbInfo(0);
    const st = new UdpStats();
    const wild: UdpDatagram[] = [];
    const bound: UdpDatagram[] = [];
    const conn: UdpDatagram[] = [];
    info.insert(pcb(0, 53, wild));
    info.insert(pcb(ME, 53, bound));
    info.insert(pcb(ME, 53, conn, PEER, 6000, 1));
    expect(input(info, st, { sport: 6000 })).toBe("delivered");
    expect(input(info, st, { sport: 6000 })).toBe("fullsock");
    expect(input(info, st, { sport: 6001 })).toBe("delivered");
    expect(input(info, st, { sport: 6001, dst: addrOf("198.18.0.2") })).toBe("delivered");
    expect(input(info, st, { dport: 54 })).toBe("noport");
    expect([conn.length, bound.length, wild.length]).toEqual([1, 1, 1]);
    expect(st).toMatchObject({ udps_ipackets: 5, udps_fullsock: 1, udps_noport: 1 });
  });

  it("the same local address and port twice is EADDRINUSE; port 0 or past 65535 is EINVAL", () => {
    const info = new UdpPcbInfo(0);
    info.insert(pcb(0, 53, []));
    expect(() => info.insert(pcb(0, 53, []))).toThrow(UdpBindError);
    expect(() => info.insert(pcb(0, 0, []))).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => info.insert(pcb(0, 65536, []))).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(info.size).toBe(1);
  });
});
