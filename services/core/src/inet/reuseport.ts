/**
 * SO_REUSEPORT listeners: listen, and close with inheritance (paper §1.6,
 * §2.6; DragonFly 02ad2f0b87 — tcp_close() on a TF_LISTEN tcpcb,
 * tcp_listen_detach_handler, syncache_destroy(tp, tp_inh), soinherit()).
 *
 * Closing one member of a group, by policy (`ListenerPolicy`):
 * - DRAGONFLY: the heir is `in_pcblocalgroup_last` (the last other member;
 *   the second-to-last when the closing one is last). On every CPU its
 *   syncache entries are re-pointed to the heir; its completed, not yet
 *   accepted connections move, in order, to the TAIL of the heir's queue.
 *   With no heir (last member, or not SO_REUSEPORT) the entries are dropped
 *   and the connections reset.
 * - LINUX (before 5.14): entries dropped, connections reset.
 * - LINUX_MIGRATE_REQ (5.14 tcp_migrate_req=1, no BPF program): each
 *   connection goes to a live member picked "randomly by hash" —
 *   reciprocal_scale(sk_hash, live count) over the group, sk_hash being the
 *   jhash of the 4-tuple with a per-host secret (inet_ehashfn). Syncache
 *   entries stay on the closed listener and migrate the same way when their
 *   SYN|ACK is retransmitted or their final ACK arrives. Every migration is
 *   counted TcpMigrateReqSuccess or, with no live member, TcpMigrateReqFailure
 *   (the connection is reset / the entry dropped).
 *
 * Everything is counted per CPU (the child's or entry's CPU) in
 * `host.stats[cpu].listenerMigrations[policy][result]`. The report lists the
 * connections to reset: aborting a TCB (RST, free) is the engine's job on the
 * connection's owner CPU.
 */
import { INADDR_ANY, INP, InpcbStateError, type Inpcb, type InpcbHost } from "./in_pcb.js";
import { ListenerPolicy, ListenSocket, SOMAXCONN, soBacklog, soinherit, soqinsque } from "./so_listen.js";
import type { TcpSyncache } from "./tcp_syncache.js";

export interface TcpListenArgs {
  laddr?: number;
  lport: number;
  reuseport?: boolean;
  reuseaddr?: boolean;
  /** listen(2) backlog; negative or above somaxconn means somaxconn. Default -1. */
  backlog?: number;
  /** `kern.ipc.somaxconn` (default SOMAXCONN = 128). */
  somaxconn?: number;
}

/**
 * bind + listen on CPU 0 (DragonFly moves bind and listen to netisr0): the
 * listener PCB sits on CPU 0's list and is referenced from every CPU's
 * wildcard hash and, with SO_REUSEPORT, local group. Throws
 * InpcbAddrInUseError when the address is taken (both sockets need
 * SO_REUSEPORT to share it).
 */
export function tcpListen<P>(host: InpcbHost<P>, args: TcpListenArgs): ListenSocket<P> {
  const qlimit = soBacklog(args.backlog ?? -1, args.somaxconn ?? SOMAXCONN);
  const inp = host.alloc(0);
  try {
    host.bind(inp, args.laddr ?? INADDR_ANY, args.lport, { reuseport: args.reuseport, reuseaddr: args.reuseaddr });
  } catch (err) {
    host.detach(inp);
    throw err;
  }
  host.listen(inp);
  return new ListenSocket<P>(inp, qlimit);
}

/** What closing a listener did. */
export interface ListenerCloseReport<P> {
  policy: ListenerPolicy;
  /** DRAGONFLY's heir, null when there was none (or under a Linux policy). */
  heir: ListenSocket<P> | null;
  /** Completed connections now on another member's queue (see each `inp.head`). */
  moved: Inpcb<P>[];
  /** Completed connections the engine must abort (RST) on their owner CPUs. */
  reset: Inpcb<P>[];
  /** Syncache entries re-pointed to the heir (DRAGONFLY). */
  syncacheMoved: number;
  /** Syncache entries dropped. */
  syncacheDropped: number;
  /** Syncache entries left on the closed listener, migrating when next touched (LINUX_MIGRATE_REQ). */
  syncachePending: number;
}

/**
 * close(2) of a listener under `policy`. `syncaches[cpu]` is each CPU's
 * syncache. The listener PCB leaves every table; `ls.state` becomes closed.
 */
export function tcpListenClose<O, P>(
  host: InpcbHost<P>,
  syncaches: readonly TcpSyncache<O, P>[],
  ls: ListenSocket<P>,
  policy: ListenerPolicy = ListenerPolicy.DRAGONFLY,
): ListenerCloseReport<P> {
  if (!ls.listening) throw new InpcbStateError(`listener ${ls.id} is already closed`);
  if (!Object.values(ListenerPolicy).includes(policy)) throw new InpcbStateError(`unknown listener policy "${String(policy)}"`);
  if (syncaches.length !== host.ncpus || syncaches.some((sc, cpu) => sc.cpu !== cpu || sc.host !== host)) {
    throw new InpcbStateError(`need this host's ${host.ncpus} syncaches, one per CPU in order`);
  }
  const report: ListenerCloseReport<P> = {
    policy,
    heir: null,
    moved: [],
    reset: [],
    syncacheMoved: 0,
    syncacheDropped: 0,
    syncachePending: 0,
  };
  const inp = ls.inp;

  if (policy === ListenerPolicy.DRAGONFLY && inp.flags & INP.REUSEPORT) {
    const heirInp = host.pcbinfo[0].localGroupLast(inp);
    if (heirInp?.so?.listening) report.heir = heirInp.so;
  }

  for (const sc of syncaches) {
    const st = host.stats[sc.cpu].listenerMigrations[policy];
    if (report.heir) {
      const n = sc.inherit(ls, report.heir);
      st.syncache_moved += n;
      report.syncacheMoved += n;
    } else if (policy === ListenerPolicy.LINUX_MIGRATE_REQ) {
      report.syncachePending += sc.entriesOf(ls).length;
    } else {
      const n = sc.dropListener(ls).length;
      st.syncache_dropped += n;
      report.syncacheDropped += n;
    }
  }

  host.unlisten(inp);
  ls.state = "closed";

  if (report.heir) {
    report.moved = soinherit(ls, report.heir);
    for (const c of report.moved) host.stats[c.cpu].listenerMigrations[policy].moved++;
  } else {
    const children = ls.comp.splice(0, ls.comp.length);
    for (const c of children) {
      c.head = undefined;
      const st = host.stats[c.cpu];
      if (policy === ListenerPolicy.LINUX_MIGRATE_REQ) {
        const to = reuseportMigrateSelect(host, c.cpu, ls, c);
        if (to) {
          soqinsque(to, c);
          st.TcpMigrateReqSuccess++;
          st.listenerMigrations[policy].moved++;
          report.moved.push(c);
          continue;
        }
        st.TcpMigrateReqFailure++;
      }
      st.listenerMigrations[policy].reset++;
      report.reset.push(c);
    }
    if (policy === ListenerPolicy.LINUX_MIGRATE_REQ) ls.migrateReq = true;
  }

  host.detach(inp);
  return report;
}

function rol32(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Linux `jhash_3words(a, b, c, initval)` (lookup3's final mix). */
export function jhash3words(a: number, b: number, c: number, initval: number): number {
  const iv = (initval + 0xdeadbeef + (3 << 2)) | 0;
  a = (a + iv) | 0;
  b = (b + iv) | 0;
  c = (c + iv) | 0;
  c ^= b;
  c = (c - rol32(b, 14)) | 0;
  a ^= c;
  a = (a - rol32(c, 11)) | 0;
  b ^= a;
  b = (b - rol32(a, 25)) | 0;
  c ^= b;
  c = (c - rol32(b, 16)) | 0;
  a ^= c;
  a = (a - rol32(c, 4)) | 0;
  b ^= a;
  b = (b - rol32(a, 14)) | 0;
  c ^= b;
  c = (c - rol32(b, 24)) | 0;
  return c >>> 0;
}

/** `inet_ehashfn`: the connection's sk_hash. */
export function inetEhashfn(secret: number, laddr: number, lport: number, faddr: number, fport: number): number {
  return jhash3words(laddr, faddr, ((lport << 16) | fport) >>> 0, secret);
}

/** `reciprocal_scale(val, n)`: ⌊val × n / 2³²⌋, in 0..n-1. */
export function reciprocalScale(val: number, n: number): number {
  return Math.floor(((val >>> 0) * n) / 0x100000000);
}

/**
 * `reuseport_migrate_sock` without a BPF program: a live member of `from`'s
 * group (laddr:lport), chosen by the connection's hash; null when none is left.
 */
export function reuseportMigrateSelect<P>(
  host: InpcbHost<P>,
  cpu: number,
  from: ListenSocket<P>,
  conn: { laddr: number; lport: number; faddr: number; fport: number },
): ListenSocket<P> | null {
  const g = host.pcbinfo[cpu].localGroup(from.laddr, from.lport);
  if (!g || g.count === 0) return null;
  const h = inetEhashfn(host.ehashSecret, conn.laddr, conn.lport, conn.faddr, conn.fport);
  const to = g.members[reciprocalScale(h, g.count)].so;
  return to && to.listening ? to : null;
}
