/**
 * connect(2)'s local port search and placement, as DragonFly's
 * `in_pcbbind_remote()` (sys/netinet/in_pcb.c, 02353b181a / 9bc6665cf4) and
 * `tcp_connect()` (tcp_usrreq.c).
 *
 * The search hashes (faddr, laddr, fport) once with the piecemeal Toeplitz
 * pieces, starts at a random port of the ephemeral range and steps with
 * lport++. While the try budget (`net.inet.ip.porthash_trycount`, default
 * 2 × ncpus) lasts, a candidate whose 4-tuple hash lands on another CPU is
 * skipped; the last budgeted try is taken whatever its CPU, and after the
 * budget the hash is not checked at all. A candidate must also be free for
 * this destination (`in_pcblookup_localremote`: no listener on the port and no
 * PCB with the same 4-tuple) and not a self-connect.
 *
 * Placement: if the chosen 4-tuple hashes to another CPU the connection
 * migrates there (counted: dfly_tcp_connect_migrations_total{cpu}); the owner
 * then runs `InpcbHost.connect()` (tcp_connect_oncpu), which inserts it into
 * its exact hash.
 */
import { toeplitzPiecemealAddr, toeplitzPiecemealPort } from "../rss/toeplitz_piecemeal.js";
import { toeplitzHash } from "../rss/toeplitz.js";
import {
  INADDR_ANY,
  INP,
  InpcbAddrNotAvailError,
  InpcbAlreadyBoundError,
  InpcbLaddrUnsetError,
  InpcbWrongCpuError,
  type Inpcb,
  type InpcbHost,
} from "./in_pcb.js";

export interface BindRemoteResult {
  /** The chosen local port (now held in the host's port table). */
  lport: number;
  /** 16-bit Toeplitz hash of the 4-tuple. */
  hash: number;
  /** Its owner CPU. */
  cpu: number;
  /** Candidates examined (≥ 1). */
  tries: number;
}

/** What both searches start from: inp has a local address and no port yet; the host's ephemeral range. */
function portRange<P>(host: InpcbHost<P>, inp: Inpcb<P>): { laddr: number; first: number; last: number; count: number } {
  if (inp.laddr === INADDR_ANY) throw new InpcbLaddrUnsetError();
  if (inp.lport !== 0) throw new InpcbAlreadyBoundError(inp.laddr, inp.lport);
  return { laddr: inp.laddr, first: host.portFirst, last: host.portLast, count: host.portLast - host.portFirst + 1 };
}

/**
 * `in_pcbbind_remote`: pick inp's local port for faddr:fport, preferring one
 * whose hash lands on `mycpu`, and set inp's foreign end (so the port is held
 * for this destination only). `inp.laddr` must already be set. Throws
 * InpcbAlreadyBoundError, InpcbLaddrUnsetError, or InpcbAddrNotAvailError
 * when every port of the range is taken for this destination.
 */
export function inPcbBindRemote<P>(host: InpcbHost<P>, inp: Inpcb<P>, faddr: number, fport: number, mycpu: number): BindRemoteResult {
  const { laddr, first, last, count } = portRange(host, inp);
  let budget = host.porthashTrycount;
  const base = budget > 0 ? (toeplitzPiecemealAddr(faddr) ^ toeplitzPiecemealAddr(laddr) ^ toeplitzPiecemealPort(fport)) >>> 0 : 0;
  let lport = first + Math.min(count - 1, Math.floor(host.random() * count));
  let tries = 0;
  // Every port of the range is looked at once; a port passed over only for its hash (while
  // the budget lasts) gets a second look at the end, so a nearly full range still finds its
  // last free ports. (DragonFly's loop counts those against the range and can give
  // EADDRNOTAVAIL with a port still free; at 64 K ports that never shows, at 64 it does.)
  let passes = count;
  for (let i = 0; i < passes; i++, lport = lport === last ? first : lport + 1) {
    tries++;
    if (budget > 0) {
      budget--;
      if (budget > 0 && host.hashcpu(toeplitzHash(base ^ toeplitzPiecemealPort(lport))) !== mycpu) {
        passes = count + i + 1; // come round to this port again
        continue;
      }
    }
    if (lport === fport && laddr === faddr) continue; // would connect to itself
    if (host.lookupLocalRemote(laddr, lport, faddr, fport) || host.tupleHeld?.(laddr, lport, faddr, fport)) continue;
    // DragonFly sets faddr/fport before the search, so the port is held for this destination only.
    inp.faddr = faddr;
    inp.fport = fport;
    inp.lport = lport;
    inp.flags |= INP.ANONPORT;
    host.insPortHash(inp);
    host.stats[mycpu].portSearchTries += tries;
    const hash = host.hashOf(faddr, fport, laddr, lport);
    return { lport, hash, cpu: host.hashcpu(hash), tries };
  }
  host.stats[mycpu].portSearchTries += tries;
  throw new InpcbAddrNotAvailError(laddr, faddr, fport, first, last);
}

/**
 * The owner's share of the range: the first port from `start` on (wrapping) whose 4-tuple hashes to
 * `mycpu` and is free in this host's tables, taken for inp as `inPcbBindRemote` takes it; null when
 * no port of the range is both. When each CPU's tables hold every 4-tuple that hashes to it, a
 * port found here is unique on the whole host: a 4-tuple can only ever collide on its owner CPU.
 */
export function inPcbBindShare<P>(host: InpcbHost<P>, inp: Inpcb<P>, faddr: number, fport: number, mycpu: number, start: number): BindRemoteResult | null {
  const { laddr, first, last, count } = portRange(host, inp);
  const base = (toeplitzPiecemealAddr(faddr) ^ toeplitzPiecemealAddr(laddr) ^ toeplitzPiecemealPort(fport)) >>> 0;
  let lport = start >= first && start <= last ? start : first;
  for (let i = 0; i < count; i++, lport = lport === last ? first : lport + 1) {
    if (host.hashcpu(toeplitzHash(base ^ toeplitzPiecemealPort(lport))) !== mycpu) continue;
    if (lport === fport && laddr === faddr) continue;
    if (host.lookupLocalRemote(laddr, lport, faddr, fport) || host.tupleHeld?.(laddr, lport, faddr, fport)) continue;
    inp.faddr = faddr;
    inp.fport = fport;
    inp.lport = lport;
    inp.flags |= INP.ANONPORT;
    host.insPortHash(inp);
    host.stats[mycpu].portSearchTries += i + 1;
    return { lport, hash: host.hashOf(faddr, fport, laddr, lport), cpu: mycpu, tries: i + 1 };
  }
  host.stats[mycpu].portSearchTries += count;
  return null;
}

export interface ConnectPlacement {
  lport: number;
  hash: number;
  /** The owner CPU, where the caller must run `host.connect(inp, faddr, fport, cpu)`. */
  cpu: number;
  /** The PCB moved from the calling CPU's list to the owner's. */
  migrated: boolean;
  /** Port candidates examined (0 when the socket was already bound). */
  tries: number;
}

/**
 * `tcp_connect()` up to the hand-off: search a local port if the PCB has
 * none, then move the PCB to the CPU that owns the 4-tuple when that is not
 * `mycpu` (in_pcbunlink + in_pcblink), counting the migration on `mycpu`.
 * The PCB must be on `mycpu`'s list.
 */
export function tcpConnectPlace<P>(host: InpcbHost<P>, inp: Inpcb<P>, faddr: number, fport: number, mycpu: number): ConnectPlacement {
  if (inp.cpu !== mycpu) throw new InpcbWrongCpuError(mycpu, inp.cpu, "connect of a PCB listed");
  let lport = inp.lport;
  let tries = 0;
  let hash: number;
  let cpu: number;
  if (lport === 0) {
    const r = inPcbBindRemote(host, inp, faddr, fport, mycpu);
    ({ lport, hash, cpu, tries } = r);
  } else {
    if (inp.laddr === INADDR_ANY) throw new InpcbLaddrUnsetError();
    hash = host.hashOf(faddr, fport, inp.laddr, lport);
    cpu = host.hashcpu(hash);
  }
  const migrated = cpu !== mycpu;
  if (migrated) {
    host.migrate(inp, cpu);
    host.stats[mycpu].connectMigrations++;
  } else {
    host.stats[mycpu].connectLocal++;
  }
  return { lport, hash, cpu, migrated, tries };
}
