/** A host's listeners (DragonFly's tcp_usr_listen, soaccept, SO_REUSEPORT close with inheritance): installed once, referenced by every CPU. */
import {
  InpcbStateError,
  ListenSocket,
  TcpState,
  soaccept,
  soBacklog,
  tcpListenClose,
  type ListenerCloseReport,
  type ListenerPolicy,
  type TcpCb,
  type TcpConnOptions,
} from "@dfly/core";
import type { ListenerCloseWire, ListenerSpec } from "@dfly/wire";
import type { ListenOwner, So, SoOwner } from "./so.js";
import type { TcpHost } from "./tcp_host.js";

/** A listener installed on this host (one per listener id; referenced from every CPU's tables). */
export class ListenerRec {
  constructor(
    readonly spec: ListenerSpec,
    readonly ls: ListenSocket<TcpCb>,
  ) {}
  get id(): string {
    return this.spec.id;
  }
  /** SO_REUSEPORT slot, -1 without SO_REUSEPORT. */
  get index(): number {
    return this.ls.inp.lgrpindex;
  }
  get listening(): boolean {
    return this.ls.listening;
  }
}

/** What `listenClose` did on this host (the wire's answer, with the policy typed). */
export interface ListenCloseResult extends Omit<ListenerCloseWire, "policy"> {
  policy: ListenerPolicy;
}

let listenerSeq = 0;

/** The listeners of one host, by id and by listen socket. */
export class HostListeners {
  private readonly byId = new Map<string, ListenerRec>();
  private readonly byLs = new Map<number, ListenerRec>();

  constructor(
    private readonly host: TcpHost,
    /** Listener owners that are not in this thread. */
    private readonly remoteOwner: ((owner: string) => ListenOwner | undefined) | undefined,
  ) {}

  /** bind + listen, idempotent per id; throws InpcbAddrInUseError when the address is taken. */
  install(spec: ListenerSpec): ListenerRec {
    const have = this.byId.get(spec.id);
    if (have) return have;
    const qlimit = soBacklog(spec.backlog, this.host.somaxconn);
    const pcb = this.host.pcb;
    const inp = pcb.alloc(0);
    try {
      pcb.bind(inp, spec.laddr, spec.lport, { reuseport: spec.reuseport });
    } catch (err) {
      pcb.detach(inp);
      throw err;
    }
    if (spec.index !== undefined && spec.reuseport) inp.lgrpindex = spec.index;
    pcb.listen(inp);
    const rec = new ListenerRec(spec, new ListenSocket<TcpCb>(inp, qlimit));
    this.byId.set(spec.id, rec);
    this.byLs.set(rec.ls.id, rec);
    return rec;
  }

  /** A fresh listener id for hosts that run without a control plane. */
  newId(): string {
    return `L${++listenerSeq}`;
  }

  get(id: string): ListenerRec | undefined {
    return this.byId.get(id);
  }

  of(ls: ListenSocket<TcpCb>): ListenerRec | undefined {
    return this.byLs.get(ls.id);
  }

  list(): ListenerRec[] {
    return [...this.byId.values()];
  }

  /** close(2) under `policy`: queued connections go to the heir (DragonFly), are reset (Linux), or migrate by hash. */
  close(id: string, policy: ListenerPolicy): ListenCloseResult {
    const rec = this.byId.get(id);
    if (!rec) throw new InpcbStateError(`no listener ${id} on this host`);
    const host = this.host;
    const report: ListenerCloseReport<TcpCb> = tcpListenClose(host.pcb, host.syncaches, rec.ls, policy);
    this.byId.delete(id);
    this.byLs.delete(rec.ls.id);
    const now = host.now();
    for (const c of report.reset) {
      const tp = c.ppcb;
      const cpu = host.cpus[c.cpu];
      if (tp && cpu) cpu.engine.abort(tp, now);
      else if (!tp) host.pcb.detach(c);
    }
    const notified = new Set<string>();
    for (const c of report.moved) {
      const heir = c.head ? this.byLs.get(c.head.id) : undefined;
      if (!heir) continue;
      const k = `${heir.id}/${c.cpu}`;
      if (notified.has(k)) continue;
      notified.add(k);
      this.acceptable(heir.ls, c.cpu);
    }
    return {
      policy,
      heir: report.heir ? (this.byLs.get(report.heir.id)?.id ?? null) : null,
      moved: report.moved.length,
      reset: report.reset.length,
      syncacheMoved: report.syncacheMoved,
      syncacheDropped: report.syncacheDropped,
      syncachePending: report.syncachePending,
    };
  }

  /** Tells `ls`'s owner that CPU `cpu` has connections for it. */
  acceptable(ls: ListenSocket<TcpCb>, cpu: number): void {
    const rec = this.byLs.get(ls.id);
    if (!rec) return;
    const o = this.host.owners.get(rec.spec.owner) ?? this.remoteOwner?.(rec.spec.owner);
    o?.acceptable(rec, cpu);
  }

  /** accept(2) on the local CPUs' share of `rec`'s queue: the oldest connection, now held by `owner`. */
  accept(rec: ListenerRec, owner: SoOwner): So | undefined {
    for (;;) {
      const inp = soaccept(rec.ls);
      if (!inp) return undefined;
      const tp = inp.ppcb;
      const so = tp ? (tp.so as So | null) : null;
      if (!so || !tp || tp.t_state === TcpState.CLOSED) continue;
      so.owner = owner;
      const c = this.host.cpus[so.cpu];
      if (c) c.stats.accepted++;
      return so;
    }
  }
}

/** Options accepted sockets inherit from their listener (one shape for every listener: read on every passive open). */
export function listenerConnOptions(spec: ListenerSpec): TcpConnOptions {
  return { nodelay: spec.nodelay ? true : undefined, sndbuf: spec.sndbuf || undefined, rcvbuf: spec.rcvbuf || undefined };
}
