import { describe, expect, it } from "vitest";
import { DRAIN_LINGER_MS_DEFAULT, NetisrEnvError, netisrConfigFromEnv } from "@dfly/netisr/internal";

describe("dfly netisr configuration: the drain and its linger", () => {
  it("lingers one 15 s ServiceMonitor interval and 5 s by default; DFLY_DRAIN_LINGER_MS sets it, 0 turns it off", () => {
    expect(DRAIN_LINGER_MS_DEFAULT).toBe(20_000);
    expect(netisrConfigFromEnv({ DFLY_CPU: "1" })).toMatchObject({ lingerMs: 20_000, drainMs: 6000 });
    expect(netisrConfigFromEnv({ DFLY_CPU: "1", DFLY_DRAIN_LINGER_MS: "0" }).lingerMs).toBe(0);
    expect(netisrConfigFromEnv({ DFLY_CPU: "1", DFLY_DRAIN_LINGER_MS: "65000" }).lingerMs).toBe(65_000);
  });

  it("a bad DFLY_DRAIN_LINGER_MS is an error naming the variable", () => {
    for (const v of ["-1", "20s", "3600001"]) {
      expect(() => netisrConfigFromEnv({ DFLY_CPU: "1", DFLY_DRAIN_LINGER_MS: v }), v).toThrow(NetisrEnvError);
      expect(() => netisrConfigFromEnv({ DFLY_CPU: "1", DFLY_DRAIN_LINGER_MS: v }), v).toThrow(/DFLY_DRAIN_LINGER_MS/);
    }
  });
});

describe("dfly netisr configuration: listener reconciliation", () => {
  it("reconciles at (re-)registration only by default; DFLY_LISTENER_SYNC_MS adds a period, bad values are errors", () => {
    expect(netisrConfigFromEnv({ DFLY_CPU: "1" }).listenerSyncMs).toBe(0);
    expect(netisrConfigFromEnv({ DFLY_CPU: "1", DFLY_LISTENER_SYNC_MS: "10000" }).listenerSyncMs).toBe(10_000);
    expect(() => netisrConfigFromEnv({ DFLY_CPU: "1", DFLY_LISTENER_SYNC_MS: "10s" })).toThrow(/DFLY_LISTENER_SYNC_MS/);
  });
});
