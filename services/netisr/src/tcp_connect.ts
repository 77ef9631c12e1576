/**
 * connect(2) on a host (DragonFly's tcp_connect, `tcp_connect_place`): prefer a port hashing to this
 * CPU, else place on the owner CPU. A 4-tuple can only collide on the CPU it hashes to, so the
 * owner's tables decide whether a candidate port is free; when it is not, the owner searches its
 * own share of the range (`inPcbBindShare`), and a CPU whose share is used up says so
 * (`TcpPortShareExhaustedError`) for the caller to ask the next CPU.
 */
import { INP, InpcbAddrNotAvailError, inPcbBindShare, tcpConnectPlace, tcpConnOptionsMerge, type Inpcb, type TcpCb, type TcpConnOptions } from "@dfly/core";
import { So, type SoOwner } from "./so.js";
import type { TcpHost } from "./tcp_host.js";

/** An operation on a CPU this thread does not run. */
export class TcpNotLocalError extends Error {
  override readonly name = "TcpNotLocalError";
  constructor(
    readonly cpu: number,
    /** connect(): the local port the search chose (the owner CPU must use it). */
    readonly lport = 0,
  ) {
    super(`cpu ${cpu} is not run by this thread`);
  }
}

/** connect(): no port of the range whose 4-tuple hashes to `cpu` is free there. */
export class TcpPortShareExhaustedError extends Error {
  override readonly name = "TcpPortShareExhaustedError";
  constructor(
    readonly cpu: number,
    readonly faddr: number,
    readonly fport: number,
  ) {
    super(`cpu ${cpu}: no local port hashing here is free for ${faddr >>> 0}:${fport}`);
  }
}

/** How connect() chooses the local port. */
export const ConnectPort = {
  /** DragonFly's search (`lport` 0) or an explicitly bound port (`lport` ≠ 0). */
  SEARCH: 0,
  /** `lport` is the candidate another CPU's search chose for this CPU: taken if free here, else this CPU's share. */
  CANDIDATE: 1,
  /** This CPU's share of the range (`lport` ignored): other CPUs found theirs used up. */
  SHARE: 2,
} as const;
export type ConnectPort = (typeof ConnectPort)[keyof typeof ConnectPort];

function shareOrThrow(host: TcpHost, inp: Inpcb<TcpCb>, laddr: number, faddr: number, fport: number, cpu: number, start: number): void {
  inp.laddr = laddr;
  if (!inPcbBindShare(host.pcb, inp, faddr, fport, cpu, start)) throw new TcpPortShareExhaustedError(cpu, faddr, fport);
  host.pcb.stats[cpu].connectLocal++;
}

/** connect(2) from CPU `from`; the owner CPU must be local (else `TcpNotLocalError`). */
export function tcpHostConnect(
  host: TcpHost, from: number, so: So | null, laddr: number, faddr: number, fport: number, owner: SoOwner, opts: TcpConnOptions, lport: number, mode: ConnectPort,
): So {
  const src = host.cpu(from);
  const pcb = host.pcb;
  const inp = pcb.alloc(from);
  let cpu = from;
  try {
    if (mode === ConnectPort.SHARE) {
      const count = pcb.portLast - pcb.portFirst + 1;
      shareOrThrow(host, inp, laddr, faddr, fport, from, pcb.portFirst + Math.min(count - 1, Math.floor(pcb.random() * count)));
    } else if (lport !== 0 && mode === ConnectPort.CANDIDATE) {
      if (pcb.lookupLocalRemote(laddr, lport, faddr, fport) || pcb.tupleHeld?.(laddr, lport, faddr, fport)) {
        shareOrThrow(host, inp, laddr, faddr, fport, from, lport === pcb.portLast ? pcb.portFirst : lport + 1);
      } else {
        inp.laddr = laddr;
        inp.lport = lport;
        inp.faddr = faddr;
        inp.fport = fport;
        inp.flags |= INP.ANONPORT;
        pcb.insPortHash(inp);
        cpu = tcpConnectPlace(pcb, inp, faddr, fport, from).cpu;
      }
    } else {
      if (lport !== 0) pcb.bind(inp, laddr, lport, {});
      else inp.laddr = laddr;
      const place = tcpConnectPlace(pcb, inp, faddr, fport, from);
      cpu = place.cpu;
      if (!host.cpus[cpu]) throw new TcpNotLocalError(cpu, place.lport);
    }
    pcb.connect(inp, faddr, fport, cpu);
  } catch (err) {
    pcb.detach(inp);
    throw err;
  }
  src.stats.connects++;
  const s = so ?? new So(cpu, inp);
  s.cpu = cpu;
  s.inp = inp;
  s.owner = owner;
  const tp = host.cpus[cpu]!.engine.connect(laddr, inp.lport, faddr, fport, host.now(), tcpConnOptionsMerge(host.routeOpts?.(faddr), opts, s));
  inp.ppcb = tp;
  s.tp = tp;
  return s;
}

/** Where a connect stands as it travels between CPUs (carried in the connect netmsg). */
export interface ConnectHop {
  /** The candidate port another CPU's search chose for this one (0: none). */
  lport: number;
  /** Search this CPU's share of the range. */
  share: boolean;
  /** CPUs whose share is used up for this destination. */
  tried: readonly number[];
}

export const CONNECT_FIRST: ConnectHop = { lport: 0, share: false, tried: [] };

export type ConnectStep = { so: So } | { to: number; hop: ConnectHop };

/**
 * One CPU's part of a connect that may travel (`me` must be local): placed here, or the CPU to pass
 * it to and how. `live`: the CPUs in the current topology. `claim` runs the placement of a candidate
 * with its bucket counted as this CPU's (a netisr passes its rescale claim). Throws
 * InpcbAddrNotAvailError when every live CPU's share is used up.
 */
export function tcpConnectStep(
  host: TcpHost, me: number, so: So | null, laddr: number, faddr: number, fport: number, owner: SoOwner, opts: TcpConnOptions, hop: ConnectHop,
  live: readonly number[], claim: <T>(hash: number, f: () => T) => T = (_h, f) => f(),
): ConnectStep {
  try {
    if (hop.share) return { so: tcpHostConnect(host, me, so, laddr, faddr, fport, owner, opts, 0, ConnectPort.SHARE) };
    if (hop.lport === 0) return { so: tcpHostConnect(host, me, so, laddr, faddr, fport, owner, opts, 0, ConnectPort.SEARCH) };
    const lport = hop.lport;
    return { so: claim(host.hashOf(faddr, fport, laddr, lport), () => tcpHostConnect(host, me, so, laddr, faddr, fport, owner, opts, lport, ConnectPort.CANDIDATE)) };
  } catch (err) {
    if (err instanceof TcpNotLocalError && hop.lport === 0 && !hop.share) return { to: err.cpu, hop: { lport: err.lport, share: false, tried: hop.tried } };
    if (!(err instanceof TcpPortShareExhaustedError)) throw err;
    const done = new Set<number>([...hop.tried, me]);
    const next = live.find((c) => !done.has(c));
    if (next === undefined) throw new InpcbAddrNotAvailError(laddr, faddr, fport, host.pcb.portFirst, host.pcb.portLast);
    host.pcb.stats[me].connectMigrations++;
    return { to: next, hop: { lport: 0, share: true, tried: [...done] } };
  }
}
