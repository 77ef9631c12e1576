/** Listener sync: this CPU's control-made listeners follow the control's list (`listen`/`closeListener` netmsgs and `reconcile()`). */
import { InpcbAddrInUseError, trace, TraceArea, type ListenerPolicy } from "@dfly/core";
import { ControlClient } from "@dfly/control";
import type { ListenerSpec } from "@dfly/wire";
import type { TcpHost } from "./tcp_host.js";
import type { ListenCloseResult, ListenerRec } from "./tcp_listen.js";

/** Default period of the listener reconciliation. */
export const LISTENER_SYNC_MS = 10_000;
/** Default deadline of a reconciliation's ListListeners call (above the control's CPU apply timeout, 2 s). */
export const LISTENER_SYNC_DEADLINE_MS = 5_000;

/** What one listener reconciliation did on this CPU. */
export interface ListenerSyncReport {
  /** Ids installed (listed by the control, missing here). */
  installed: string[];
  /** Ids closed here (installed from the control, no longer listed by it), with what each close did. */
  closed: (ListenCloseResult & { id: string })[];
  /** Ids the control lists that could not be installed here (address in use by a listener not from the control). */
  failed: { id: string; reason: string }[];
}

/** The counters listener sync shares with the socket port's (SockPortStats). */
export interface ListenerSyncStats {
  listenerSyncs: number;
  listenerSyncFailed: number;
  listenerSyncInstalled: number;
  listenerSyncClosed: number;
  listenerSyncInstallFailed: number;
}

export class ListenerSync {
  /** Listeners installed from the control, by id. */
  readonly specs = new Map<string, ListenerSpec>();
  /** Why the last reconciliation failed (undefined after one that completed). */
  error: string | undefined;
  private running: Promise<ListenerSyncReport> | undefined;
  private queued: Promise<ListenerSyncReport> | undefined;
  /** Ids closed by a `closeListener` netmsg while a ListListeners call is out. */
  private closedDuringSync: Set<string> | undefined;
  private client: ControlClient | undefined;

  constructor(
    private readonly cpu: number,
    private readonly host: () => TcpHost,
    private readonly stats: ListenerSyncStats,
    private readonly controlAddr: string | undefined,
    private readonly deadlineMs = LISTENER_SYNC_DEADLINE_MS,
  ) {}

  /** A `listen` netmsg: installs the listener (throws InpcbAddrInUseError when the address is taken). */
  install(spec: ListenerSpec): ListenerRec {
    const rec = this.host().listenInstall(spec);
    this.specs.set(spec.id, spec);
    return rec;
  }

  /** Closes a control-made listener on this CPU (a `closeListener` netmsg or a reconciliation). */
  close(id: string, policy: ListenerPolicy): ListenCloseResult {
    this.specs.delete(id);
    this.closedDuringSync?.add(id);
    const host = this.host();
    if (!host.listener(id)) return { policy, heir: null, moved: 0, reset: 0, syncacheMoved: 0, syncacheDropped: 0, syncachePending: 0 };
    return host.listenClose(id, policy);
  }

  /** Makes this CPU's control-made listeners what the control lists; concurrent calls fold into one more run; rejects (and counts) a failed list call. */
  reconcile(): Promise<ListenerSyncReport> {
    if (this.queued) return this.queued;
    if (this.running) {
      const q = this.running
        .then(
          () => undefined,
          () => undefined,
        )
        .then(() => {
          this.queued = undefined;
          return this.run();
        });
      this.queued = q;
      return q;
    }
    return this.run();
  }

  private run(): Promise<ListenerSyncReport> {
    const p = this.sync().finally(() => {
      if (this.running === p) this.running = undefined;
    });
    this.running = p;
    return p;
  }

  private async sync(): Promise<ListenerSyncReport> {
    const report: ListenerSyncReport = { installed: [], closed: [], failed: [] };
    if (!this.controlAddr) return report;
    const c = (this.client ??= new ControlClient(this.controlAddr, this.deadlineMs));
    const before = new Set(this.specs.keys());
    const closedMeanwhile = new Set<string>();
    this.closedDuringSync = closedMeanwhile;
    let listed: ListenerSpec[];
    try {
      listed = await c.listenerSpecs();
    } catch (err) {
      this.stats.listenerSyncFailed++;
      this.error = err instanceof Error ? err.message : String(err);
      trace(TraceArea.reuseport, () => `cpu ${this.cpu}: listener sync failed, nothing changed: ${this.error}`);
      throw err;
    } finally {
      if (this.closedDuringSync === closedMeanwhile) this.closedDuringSync = undefined;
    }
    const ids = new Set(listed.map((l) => l.id));
    // Closes first: a listener the control replaced (same address, new id) frees its port.
    for (const id of before) {
      if (ids.has(id) || !this.specs.has(id)) continue;
      report.closed.push({ id, ...this.close(id, this.host().policy) });
      this.stats.listenerSyncClosed++;
    }
    for (const spec of listed) {
      if (this.specs.has(spec.id) || closedMeanwhile.has(spec.id)) continue;
      try {
        this.install(spec);
      } catch (err) {
        // The address is taken here by a listener the control does not know: left as it is.
        if (!(err instanceof InpcbAddrInUseError)) throw err;
        report.failed.push({ id: spec.id, reason: err.message });
        this.stats.listenerSyncInstallFailed++;
        continue;
      }
      report.installed.push(spec.id);
      this.stats.listenerSyncInstalled++;
    }
    this.stats.listenerSyncs++;
    this.error = undefined;
    if (report.installed.length > 0 || report.closed.length > 0) {
      trace(TraceArea.reuseport, () => `cpu ${this.cpu}: listener sync installed [${report.installed.join(",")}] closed [${report.closed.map((x) => `${x.id} moved=${x.moved} reset=${x.reset} heir=${x.heir ?? "none"}`).join(",")}]`);
    }
    return report;
  }

  stop(): void {
    this.client?.close();
  }
}

