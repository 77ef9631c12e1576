/**
 * Listener sync (listener_sync.ts), without a control: a `listen` installs and remembers the
 * listener, a close forgets it (a close of one this CPU never had does nothing), and a
 * reconciliation with no control to ask changes nothing. The reconciliation against a real
 * control is test/integration/control/listener-sync.test.ts.
 */
import { describe, expect, it } from "vitest";
import { InpcbAddrInUseError, ListenerPolicy } from "@dfly/core";
import { TcpHost, ListenerSync } from "@dfly/netisr/internal";
import type { ListenerSpec } from "@dfly/wire";

const stats = () => ({ listenerSyncs: 0, listenerSyncFailed: 0, listenerSyncInstalled: 0, listenerSyncClosed: 0, listenerSyncInstallFailed: 0 });

describe("listener_sync", () => {
  it("installs, refuses a taken address, closes; reconciles to nothing without a control", async () => {
    const host = new TcpHost({ ncpus: 1, output: () => undefined });
    const s = stats();
    const sync = new ListenerSync(0, () => host, s, undefined);
    const spec: ListenerSpec = { id: "L1", laddr: 0, lport: 80, reuseport: false, backlog: 16, owner: "app", nodelay: true };
    sync.install(spec);
    expect([...sync.specs.keys()]).toEqual(["L1"]);
    expect(() => sync.install({ ...spec, id: "L2" })).toThrow(InpcbAddrInUseError);
    expect(await sync.reconcile()).toEqual({ installed: [], closed: [], failed: [] });
    expect(sync.close("nope", ListenerPolicy.LINUX).moved).toBe(0);
    sync.close("L1", ListenerPolicy.LINUX);
    expect(sync.specs.size).toBe(0);
    expect(host.listener("L1")).toBeUndefined();
    expect(s).toEqual(stats());
    sync.stop();
  });
});
