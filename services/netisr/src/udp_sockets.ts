/**
 * The UDP socket calls of a program in a process hosting several netisr CPUs (the embedded
 * stack). bind() replicates a wildcard PCB into every CPU's table, as DragonFly's
 * in_pcbinswildcardhash does on each netisr CPU, so the datagram is taken on whichever CPU its
 * address pair hashes to. sendto() is asynchronous (the paper's §2.7, DragonFly's udp_send
 * netmsg): it returns the length at once and the datagram leaves from the CPU that owns the
 * address pair (udp_addrcpu), so replies and requests of one pair share a CPU.
 */
import { symmetric, type UdpDatagram, type UdpPcb } from "@dfly/core";
import type { UdpNetisr } from "./udp_netisr.js";

/** Datagrams a socket holds before udp_input() counts udps_fullsock (so_rcv's limit, in datagrams). */
export const UDP_RCVQ_DEFAULT = 256;

export class UdpSocketError extends Error {
  override readonly name = "UdpSocketError";
  constructor(message: string, readonly code: "EBADF" | "EINVAL" | "EMSGSIZE" | "EDESTADDRREQ") {
    super(message);
  }
}

/** Counters of the program's socket layer. */
export class UdpSockStats {
  /** sendto() calls that returned before the datagram was sent (queued to the pair's CPU). */
  asyncSends = 0;
  /** Of those, datagrams udp_output() sent. */
  asyncSent = 0;
  /** Of those, dropped by udp_output() (no route, TX full). */
  asyncDropped = 0;
}

class UdpSock {
  readonly rcv: UdpDatagram[] = [];
  pcbs: { cpu: UdpNetisr; pcb: UdpPcb }[] = [];
  laddr = 0;
  lport = 0;
  readablePending = false;
  constructor(readonly onReadable: (() => void) | undefined) {}
}

export class UdpSockets {
  readonly stats = new UdpSockStats();
  private readonly socks = new Map<number, UdpSock>();
  private nextFd = 3;
  private readonly byCpu = new Map<number, UdpNetisr>();

  constructor(
    readonly cpus: readonly UdpNetisr[],
    private readonly rcvq = UDP_RCVQ_DEFAULT,
  ) {
    if (cpus.length === 0) throw new UdpSocketError("UDP sockets need at least one netisr CPU", "EINVAL");
    for (const c of cpus) this.byCpu.set(c.cpu, c);
  }

  /** A socket; `onReadable` runs (once per burst, in a microtask) when datagrams are waiting. */
  socket(onReadable?: () => void): number {
    const fd = this.nextFd++;
    this.socks.set(fd, new UdpSock(onReadable));
    return fd;
  }

  private get(fd: number): UdpSock {
    const s = this.socks.get(fd);
    if (!s) throw new UdpSocketError(`fd ${fd} is not a UDP socket`, "EBADF");
    return s;
  }

  /** in_pcbbind + in_pcbinswildcardhash on every CPU; `laddr` 0 = INADDR_ANY. UdpBindError if any CPU holds the port. */
  bind(fd: number, laddr: number, lport: number): void {
    const s = this.get(fd);
    if (s.lport !== 0) throw new UdpSocketError(`fd ${fd} is already bound`, "EINVAL");
    const pcb: UdpPcb = { laddr: laddr >>> 0, lport, faddr: 0, fport: 0, deliver: (d) => this.deliver(s, d) };
    const done: { cpu: UdpNetisr; pcb: UdpPcb }[] = [];
    try {
      for (const cpu of this.cpus) {
        cpu.pcbinfo.insert(pcb);
        done.push({ cpu, pcb });
      }
    } catch (err) {
      // All or nothing: a port some CPU holds is not bound anywhere (UdpBindError).
      for (const d of done) d.cpu.pcbinfo.remove(d.pcb);
      throw err;
    }
    s.pcbs = done;
    s.laddr = laddr >>> 0;
    s.lport = lport;
  }

  private deliver(s: UdpSock, d: UdpDatagram): boolean {
    if (s.rcv.length >= this.rcvq) return false;
    s.rcv.push(d);
    if (s.onReadable && !s.readablePending) {
      s.readablePending = true;
      queueMicrotask(() => {
        s.readablePending = false;
        if (s.rcv.length > 0) s.onReadable?.();
      });
    }
    return true;
  }

  /** The next datagram, or undefined (EWOULDBLOCK). */
  recv(fd: number): UdpDatagram | undefined {
    return this.get(fd).rcv.shift();
  }

  /** The CPU a datagram between `laddr` and `faddr` belongs to (udp_addrcpu: toeplitz of the address pair). */
  pairCpu(laddr: number, faddr: number): UdpNetisr {
    const owner = this.cpus[0].netisr.ownerOf(symmetric.hash2(faddr, laddr) | 0);
    return this.byCpu.get(owner) ?? this.cpus[0];
  }

  /**
   * sendto(): returns `data.length` at once; the datagram is copied and sent from its pair's CPU
   * after the caller's burst of work. `src` 0 takes the bound address, else the route's interface address.
   */
  sendto(fd: number, data: Uint8Array, faddr: number, fport: number, src = 0): number {
    const s = this.get(fd);
    if (!Number.isInteger(fport) || fport < 1 || fport > 0xffff) throw new UdpSocketError(`destination port ${fport} is not in 1..65535`, "EDESTADDRREQ");
    if (data.length > 0xffff - 28) throw new UdpSocketError(`datagram of ${data.length} bytes is too long`, "EMSGSIZE");
    if (s.lport === 0) this.bind(fd, 0, this.ephemeral());
    let laddr = src !== 0 ? src >>> 0 : s.laddr;
    if (laddr === 0) laddr = this.cpus[0].sourceAddr(faddr >>> 0);
    const copy = data.slice();
    const cpu = this.pairCpu(laddr, faddr >>> 0);
    this.stats.asyncSends++;
    queueMicrotask(() => {
      if (cpu.output(laddr, s.lport, faddr >>> 0, fport, copy)) this.stats.asyncSent++;
      else this.stats.asyncDropped++;
    });
    return data.length;
  }

  private ephemeral(): number {
    // The first free port of the IANA ephemeral range on CPU 0's table (every CPU holds the same wildcard set).
    for (let p = 49152; p <= 65535; p++) if (this.cpus[0].pcbinfo.lookup(0, 0, 0, p) === undefined) return p;
    throw new UdpSocketError("no ephemeral UDP port is free", "EINVAL");
  }

  close(fd: number): void {
    const s = this.get(fd);
    for (const d of s.pcbs) d.cpu.pcbinfo.remove(d.pcb);
    this.socks.delete(fd);
  }
}
