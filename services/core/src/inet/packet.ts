/**
 * Whole IPv4 packets in one call: build an IPv4+TCP/UDP/ICMP frame with every
 * checksum right (for pktgen and tests), and parse a frame down to its L4 header.
 * A *frame* is a raw IPv4 packet (pcap LINKTYPE_RAW).
 */
import { buildIcmpEcho, buildIcmpError, parseIcmp, type IcmpDropReason, type IcmpMessage } from "./icmp.js";
import {
  IPPROTO, ipFinalDst, ipIsFragment, ipv4HeaderLength, parseIpv4, writeIpv4Header,
  type IpDropReason, type IpOption, type Ipv4Header,
} from "./ip.js";
import { parseTcp, tcpHeaderLength, writeTcp, type TcpDropReason, type TcpHeader, type TcpOptions } from "./tcp.js";
import { parseUdp, UDP_HDRLEN, writeUdp, type UdpDropReason, type UdpHeader } from "./udp.js";

const EMPTY = new Uint8Array(0);

/** IP header fields shared by every builder below. */
export interface IpFields {
  src: number;
  dst: number;
  /** Default 64. */
  ttl?: number;
  id?: number;
  tos?: number;
  df?: boolean;
  /** IPv4 options (decoded, or encoded bytes padded to a multiple of 4). */
  ipOptions?: readonly IpOption[] | Uint8Array;
}

function ipInit(p: IpFields, proto: number) {
  return { src: p.src, dst: p.dst, p: proto, ttl: p.ttl, id: p.id, tos: p.tos, df: p.df, options: p.ipOptions };
}

/** The pseudo-header destination of the header just written at out[0…] (see ipFinalDst). */
function pseudoDst(out: Uint8Array, p: IpFields): number {
  if (p.ipOptions === undefined) return p.dst;
  const r = parseIpv4(out, 0, { checksum: false });
  return r.ok ? ipFinalDst(r.ip) : p.dst;
}

export interface TcpPacketInit extends IpFields {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** TcpFlags bits. */
  flags?: number;
  /** Default 65535. */
  window?: number;
  urp?: number;
  /** TCP options (IP options go in `ipOptions`). */
  options?: TcpOptions | Uint8Array;
  payload?: Uint8Array;
}

/** IPv4 + TCP with both checksums (the pseudo-header takes a pending source route's final destination). */
export function buildTcpPacket(p: TcpPacketInit): Uint8Array {
  const payload = p.payload ?? EMPTY;
  const ipFields = ipInit(p, IPPROTO.TCP);
  const hl = ipv4HeaderLength(ipFields);
  const tcpHdr = { sport: p.sport, dport: p.dport, seq: p.seq, ack: p.ack, flags: p.flags, window: p.window, urp: p.urp, options: p.options };
  const seglen = tcpHeaderLength(tcpHdr) + payload.length;
  const out = new Uint8Array(hl + seglen);
  writeIpv4Header(out, 0, ipFields, seglen);
  writeTcp(out, hl, tcpHdr, payload, p.src, pseudoDst(out, p));
  return out;
}

export interface UdpPacketInit extends IpFields {
  sport: number;
  dport: number;
  payload?: Uint8Array;
  /** Compute the UDP checksum (default true); false sends 0. */
  checksum?: boolean;
}

/** IPv4 + UDP with both checksums. */
export function buildUdpPacket(p: UdpPacketInit): Uint8Array {
  const payload = p.payload ?? EMPTY;
  const ipFields = ipInit(p, IPPROTO.UDP);
  const hl = ipv4HeaderLength(ipFields);
  const out = new Uint8Array(hl + UDP_HDRLEN + payload.length);
  writeIpv4Header(out, 0, ipFields, UDP_HDRLEN + payload.length);
  writeUdp(out, hl, { sport: p.sport, dport: p.dport, checksum: p.checksum }, payload, p.src, pseudoDst(out, p));
  return out;
}

function withIcmp(p: IpFields, icmp: Uint8Array): Uint8Array {
  const ipFields = ipInit(p, IPPROTO.ICMP);
  const hl = ipv4HeaderLength(ipFields);
  const out = new Uint8Array(hl + icmp.length);
  writeIpv4Header(out, 0, ipFields, icmp.length);
  out.set(icmp, hl);
  return out;
}

export interface IcmpEchoInit extends IpFields {
  /** Echo identifier (`id` is the IP header's). */
  echoId: number;
  seq: number;
  payload?: Uint8Array;
  /** Build an echo reply instead of a request. */
  reply?: boolean;
}

/** IPv4 + ICMP echo request/reply. */
export function buildIcmpEchoPacket(p: IcmpEchoInit): Uint8Array {
  return withIcmp(p, buildIcmpEcho(p.echoId, p.seq, p.payload ?? EMPTY, p.reply));
}

export interface IcmpErrorInit extends IpFields {
  /** ICMP.UNREACH, ICMP.TIMXCEED, ICMP.PARAMPROB, … */
  type: number;
  code: number;
  /** The offending IPv4 datagram; its header and first 8 data bytes are quoted. */
  original: Uint8Array;
  /** Next-hop MTU for UNREACH/NEEDFRAG. */
  mtu?: number;
  /** Pointer for PARAMPROB. */
  pointer?: number;
  /** Gateway for REDIRECT. */
  gateway?: number;
}

/** IPv4 + ICMP error quoting `original` (header + 8 bytes). */
export function buildIcmpErrorPacket(p: IcmpErrorInit): Uint8Array {
  const rest = p.gateway !== undefined ? p.gateway >>> 0 : p.pointer !== undefined ? (p.pointer & 0xff) * 0x1000000 : (p.mtu ?? 0) & 0xffff;
  return withIcmp(p, buildIcmpError(p.type, p.code, p.original, rest));
}

export interface IpPacketInit extends IpFields {
  /** Protocol number. */
  p: number;
  mf?: boolean;
  fragOffset?: number;
  payload: Uint8Array;
}

/** IPv4 with an arbitrary payload (checksums of the payload are the caller's). */
export function buildIpPacket(p: IpPacketInit): Uint8Array {
  const ipFields = { ...ipInit(p, p.p), mf: p.mf, fragOffset: p.fragOffset };
  const hl = ipv4HeaderLength(ipFields);
  const out = new Uint8Array(hl + p.payload.length);
  writeIpv4Header(out, 0, ipFields, p.payload.length);
  out.set(p.payload, hl);
  return out;
}

/** What `parsePacket` found above IP. */
export type L4Result =
  | { proto: "tcp"; tcp: TcpHeader; payloadOffset: number; payloadLength: number }
  | { proto: "udp"; udp: UdpHeader; payloadOffset: number; payloadLength: number }
  | { proto: "icmp"; icmp: IcmpMessage }
  /** A fragment: L4 is parsed only after reassembly. */
  | { proto: "fragment" }
  /** Another protocol; its bytes are `ip` payload. */
  | { proto: "other" };

/** Which layer rejected a frame and why (the counter names of that layer's stats). */
export type PacketDrop =
  | { layer: "ip"; reason: IpDropReason }
  | { layer: "tcp"; reason: TcpDropReason }
  | { layer: "udp"; reason: UdpDropReason }
  | { layer: "icmp"; reason: IcmpDropReason };

export type PacketParseResult =
  | { ok: true; ip: Ipv4Header; payloadOffset: number; payloadLength: number; l4: L4Result }
  | ({ ok: false; ip?: Ipv4Header } & PacketDrop);

export interface PacketParseOptions {
  /** Verify IP and L4 checksums (default true). */
  checksum?: boolean;
  /** TCP option strictness (see TcpParseOptions). */
  strictTcpOptions?: boolean;
}

/**
 * Parses a raw IPv4 frame and its TCP/UDP/ICMP header. Never throws: a bad frame
 * gives `{ ok: false, layer, reason }`. Fragments are not parsed above IP.
 */
export function parsePacket(frame: Uint8Array, opts?: PacketParseOptions): PacketParseResult {
  const checksum = opts?.checksum;
  const r = parseIpv4(frame, 0, { checksum });
  if (!r.ok) return { ok: false, layer: "ip", reason: r.reason };
  const { ip, payloadOffset, payloadLength } = r;
  if (ipIsFragment(ip)) return { ok: true, ip, payloadOffset, payloadLength, l4: { proto: "fragment" } };
  switch (ip.p) {
    case IPPROTO.TCP: {
      const t = parseTcp(frame, payloadOffset, payloadLength, ip.src, ipFinalDst(ip), { checksum, strictOptions: opts?.strictTcpOptions });
      if (!t.ok) return { ok: false, ip, layer: "tcp", reason: t.reason };
      return { ok: true, ip, payloadOffset, payloadLength, l4: { proto: "tcp", tcp: t.tcp, payloadOffset: t.payloadOffset, payloadLength: t.payloadLength } };
    }
    case IPPROTO.UDP: {
      const u = parseUdp(frame, payloadOffset, payloadLength, ip.src, ipFinalDst(ip), { checksum });
      if (!u.ok) return { ok: false, ip, layer: "udp", reason: u.reason };
      return { ok: true, ip, payloadOffset, payloadLength, l4: { proto: "udp", udp: u.udp, payloadOffset: u.payloadOffset, payloadLength: u.payloadLength } };
    }
    case IPPROTO.ICMP: {
      const c = parseIcmp(frame, payloadOffset, payloadLength, { checksum });
      if (!c.ok) return { ok: false, ip, layer: "icmp", reason: c.reason };
      return { ok: true, ip, payloadOffset, payloadLength, l4: { proto: "icmp", icmp: c.icmp } };
    }
    default:
      return { ok: true, ip, payloadOffset, payloadLength, l4: { proto: "other" } };
  }
}
