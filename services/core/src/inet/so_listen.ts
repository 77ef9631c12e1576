/**
 * The listen-socket side of sys/kern/uipc_socket.c and uipc_socket2.c:
 * the completed-connection queue (`so_comp`, `so_qlen`, `so_qlimit`),
 * `solisten`'s backlog clamp, `sonewconn`'s overflow test, accept, and
 * `soinherit` (02ad2f0b87: a closing SO_REUSEPORT listener hands its
 * not-yet-accepted connections to the TAIL of the heir's queue).
 *
 * The queue holds the child connections' PCBs (`Inpcb`), each owned by the
 * CPU that completed its handshake (its hash CPU); accepting one does not move
 * it. `so_incomp` is not modelled: DragonFly only uses it with accept filters.
 */
import type { Inpcb } from "./in_pcb.js";

/** `SOMAXCONN`: default `kern.ipc.somaxconn`. */
export const SOMAXCONN = 128;

export const ListenState = {
  LISTENING: "listening",
  CLOSED: "closed",
} as const;
export type ListenState = (typeof ListenState)[keyof typeof ListenState];

/**
 * What closing one member of an SO_REUSEPORT group does with its syncache
 * entries and its completed-but-not-accepted connections.
 */
export const ListenerPolicy = {
  /** DragonFly 02ad2f0b87: hand them to the heir (the last other member); none → drop/reset. */
  DRAGONFLY: "dragonfly",
  /** Linux before 5.14 (Google's SO_REUSEPORT): reset them. */
  LINUX: "linux",
  /** Linux 5.14 `net.ipv4.tcp_migrate_req=1`: each to a random live member (by hash). */
  LINUX_MIGRATE_REQ: "linux_migrate_req",
} as const;
export type ListenerPolicy = (typeof ListenerPolicy)[keyof typeof ListenerPolicy];

/** Outcome of one connection or syncache entry of a closing listener (metric label `result`). */
export const ListenerMigrationResult = {
  /** A completed connection moved to another member's accept queue. */
  MOVED: "moved",
  /** A completed connection was reset (aborted). */
  RESET: "reset",
  /** A syncache entry now points at another member. */
  SYNCACHE_MOVED: "syncache_moved",
  /** A syncache entry was dropped (its peer's final ACK will meet a RST). */
  SYNCACHE_DROPPED: "syncache_dropped",
} as const;
export type ListenerMigrationResult = (typeof ListenerMigrationResult)[keyof typeof ListenerMigrationResult];

/** counts[policy][result]: one CPU's share of dfly_so_listener_migrations_total{cpu,policy,result}. */
export type ListenerMigrationStats = Record<ListenerPolicy, Record<ListenerMigrationResult, number>>;

export function newListenerMigrationStats(): ListenerMigrationStats {
  const out = {} as ListenerMigrationStats;
  for (const p of Object.values(ListenerPolicy)) {
    out[p] = { moved: 0, reset: 0, syncache_moved: 0, syncache_dropped: 0 };
  }
  return out;
}

/** Backlog that is not an integer. */
export class ListenBacklogError extends Error {
  override readonly name = "ListenBacklogError";
  constructor(readonly backlog: unknown) {
    super(`listen backlog ${String(backlog)} is not an integer`);
  }
}

/**
 * `solisten`'s clamp: a negative backlog or one above somaxconn becomes
 * somaxconn; so_qlimit = the result.
 */
export function soBacklog(backlog: number, somaxconn = SOMAXCONN): number {
  if (!Number.isInteger(backlog)) throw new ListenBacklogError(backlog);
  return backlog < 0 || backlog > somaxconn ? somaxconn : backlog;
}

let listenSeq = 0;

/** A listening socket: the completed-connection queue of one listener PCB. */
export class ListenSocket<P = unknown> {
  /** Unique in this process. */
  readonly id = ++listenSeq;
  readonly laddr: number;
  readonly lport: number;
  state: ListenState = ListenState.LISTENING;
  /** Closed under LINUX_MIGRATE_REQ: its syncache entries migrate when next touched. */
  migrateReq = false;
  /** `so_comp`: completed, not yet accepted; accept takes the head. */
  readonly comp: Inpcb<P>[] = [];
  /** sonewconn refusals (`tcps_listendrop` attributed to this listener). */
  overflows = 0;

  constructor(
    readonly inp: Inpcb<P>,
    /** `so_qlimit`. */
    public qlimit: number,
  ) {
    this.laddr = inp.laddr;
    this.lport = inp.lport;
    inp.so = this;
  }

  /** `so_qlen`. */
  get qlen(): number {
    return this.comp.length;
  }

  get listening(): boolean {
    return this.state === ListenState.LISTENING;
  }
}

/**
 * `sonewconn`'s admission test: refuse once `so_qlen > 3 * so_qlimit / 2`
 * (C integer division), i.e. the queue may grow to ⌊3·qlimit/2⌋ + 1.
 */
export function soqAdmits(head: ListenSocket<unknown>): boolean {
  return !(head.qlen > Math.trunc((3 * head.qlimit) / 2));
}

/** `soqinsque(head, so, SQ_COMP)`: append to the accept queue. */
export function soqinsque<P>(head: ListenSocket<P>, child: Inpcb<P>): void {
  child.head = head;
  head.comp.push(child);
}

/** `soqremque`: take a child off its head's queue (e.g. it was aborted). False if it was not queued. */
export function soqremque<P>(child: Inpcb<P>): boolean {
  const head = child.head;
  if (!head) return false;
  const i = head.comp.indexOf(child);
  if (i >= 0) head.comp.splice(i, 1);
  child.head = undefined;
  return i >= 0;
}

/** accept(2): the oldest completed connection, or undefined when the queue is empty. */
export function soaccept<P>(head: ListenSocket<P>): Inpcb<P> | undefined {
  const child = head.comp.shift();
  if (child) child.head = undefined;
  return child;
}

/**
 * `soinherit(so, so_inh)`: move every completed connection of `head` to the
 * tail of `heir`'s queue, in order. Returns the moved children.
 */
export function soinherit<P>(head: ListenSocket<P>, heir: ListenSocket<P>): Inpcb<P>[] {
  const moved = head.comp.splice(0, head.comp.length);
  for (const child of moved) {
    child.head = heir;
    heir.comp.push(child);
  }
  return moved;
}
