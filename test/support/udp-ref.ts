/**
 * Independent references for UDP tests: a bit-by-bit Toeplitz hash (Microsoft RSS spec wording:
 * for every set input bit, XOR the 32-bit key window starting at that bit), DragonFly's
 * netisr_hashcpu ((hash & 127) % ncpus) and hand-built IPv4/UDP datagrams with RFC 1071 sums.
 * Nothing here calls the stack.
 */
export function toeplitzRef(key: Uint8Array, input: number[]): number {
  const keyBit = (i: number) => (key[i >> 3] >> (7 - (i & 7))) & 1;
  let h = 0;
  for (let i = 0; i < input.length * 8; i++) {
    if (((input[i >> 3] >> (7 - (i & 7))) & 1) === 0) continue;
    let w = 0;
    for (let k = 0; k < 32; k++) w = ((w << 1) | keyBit(i + k)) >>> 0;
    h = (h ^ w) >>> 0;
  }
  return h;
}

export const hexBytes = (s: string): Uint8Array => Uint8Array.from(s.replace(/^0x/, "").match(/../g)!.map((x) => parseInt(x, 16)));
export const addrBytes = (a: number): number[] => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255];
export const addrOf = (s: string): number => s.split(".").reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);

/** The address-pair hash DragonFly's ip_hashfn gives a UDP datagram (src, dst). */
export const udpPairHashRef = (key: Uint8Array, src: number, dst: number): number => toeplitzRef(key, [...addrBytes(src), ...addrBytes(dst)]);

/** netisr_hashcpu: the bucket (low 7 bits) modulo the CPU count. */
export const hashcpuRef = (h: number, ncpus: number): number => (h & 127) % ncpus;

/** RFC 1071 one's complement sum, not complemented. */
function sum16(b: number[], init = 0): number {
  let s = init;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

export function udpChecksumOk(ip: Uint8Array): boolean {
  const hl = (ip[0] & 15) * 4;
  const iplen = (ip[2] << 8) | ip[3];
  const u = [...ip.subarray(hl, iplen)];
  const pseudo = [...ip.subarray(12, 20), 0, 17, u.length >> 8, u.length & 255];
  return (sum16(u, sum16(pseudo)) & 0xffff) === 0xffff;
}

export interface UdpRefInit {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  data: number[];
  /** Override uh_ulen. */
  ulen?: number;
  /** Damage the checksum. */
  badsum?: boolean;
}

/** An IPv4 datagram carrying UDP, sums computed here. */
export function udpDatagramRef(o: UdpRefInit): Uint8Array {
  const ulen = 8 + o.data.length;
  const u = [o.sport >> 8, o.sport & 255, o.dport >> 8, o.dport & 255, ulen >> 8, ulen & 255, 0, 0, ...o.data];
  const pseudo = [...addrBytes(o.src), ...addrBytes(o.dst), 0, 17, ulen >> 8, ulen & 255];
  let c = ~sum16(u, sum16(pseudo)) & 0xffff;
  if (c === 0) c = 0xffff;
  if (o.badsum) c ^= 0x0101;
  u[6] = c >> 8;
  u[7] = c & 255;
  if (o.ulen !== undefined) {
    u[4] = o.ulen >> 8;
    u[5] = o.ulen & 255;
  }
  const total = 20 + u.length;
  const ip = [0x45, 0, total >> 8, total & 255, 0, 1, 0, 0, 64, 17, 0, 0, ...addrBytes(o.src), ...addrBytes(o.dst)];
  const ic = ~sum16(ip) & 0xffff;
  ip[10] = ic >> 8;
  ip[11] = ic & 255;
  return Uint8Array.from([...ip, ...u]);
}
