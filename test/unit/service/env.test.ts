import { describe, expect, it } from "vitest";
import { createTransport } from "@dfly/transport";
import { envInt, kvReplicasFromEnv, MAX_KV_REPLICAS, serviceBaseFromEnv, ServiceEnvError } from "@dfly/service";
import { controlConfigFromEnv } from "@dfly/control";
import { NicEnvError, nicConfigFromEnv } from "@dfly/nic";
import { NetisrEnvError, netisrConfigFromEnv } from "@dfly/netisr/internal";

describe("DFLY_KV_REPLICAS", () => {
  it("defaults to 1, reads 1..5", () => {
    expect(kvReplicasFromEnv({})).toBe(1);
    expect(kvReplicasFromEnv({ DFLY_KV_REPLICAS: "" })).toBe(1);
    expect(kvReplicasFromEnv({ DFLY_KV_REPLICAS: "3" })).toBe(3);
    expect(kvReplicasFromEnv({ DFLY_KV_REPLICAS: String(MAX_KV_REPLICAS) })).toBe(5);
  });

  it("rejects what JetStream cannot make, naming the variable", () => {
    for (const v of ["0", "6", "2.5", "three", "-1"]) {
      expect(() => kvReplicasFromEnv({ DFLY_KV_REPLICAS: v }), v).toThrow(ServiceEnvError);
      expect(() => kvReplicasFromEnv({ DFLY_KV_REPLICAS: v }), v).toThrow(`DFLY_KV_REPLICAS=${v} is not an integer in 1..5`);
    }
    expect(() => kvReplicasFromEnv({ DFLY_KV_REPLICAS: "9" }, NicEnvError)).toThrow(NicEnvError);
  });

  it("every service's configuration carries it (the chart sets it on every pod)", () => {
    const env = { DFLY_KV_REPLICAS: "3", DFLY_CPU: "2", DFLY_NATS_URL: "nats://127.0.0.1:4222", DFLY_CLUSTER: "c1" };
    expect(controlConfigFromEnv(env)).toMatchObject({ kvReplicas: 3, natsUrl: "nats://127.0.0.1:4222", cluster: "c1" });
    expect(nicConfigFromEnv(env)).toMatchObject({ kvReplicas: 3, natsUrl: "nats://127.0.0.1:4222", cluster: "c1" });
    expect(netisrConfigFromEnv(env)).toMatchObject({ kvReplicas: 3, cpu: 2, cluster: "c1" });
    expect(controlConfigFromEnv({}).kvReplicas).toBe(1);
    expect(serviceBaseFromEnv({})).toEqual({ cluster: "dfly", natsUrl: undefined, kvReplicas: 1 });
    expect(() => netisrConfigFromEnv({ DFLY_CPU: "0", DFLY_KV_REPLICAS: "7" })).toThrow(NetisrEnvError);
    expect(() => nicConfigFromEnv({ DFLY_KV_REPLICAS: "0" })).toThrow(NicEnvError);
    expect(() => controlConfigFromEnv({ DFLY_KV_REPLICAS: "x" })).toThrow(ServiceEnvError);
  });

  it("DFLY_CLUSTER must be one NATS subject token and a valid KV bucket prefix (NATS: bucket names ^[-\\w]+$, tokens split at '.')", () => {
    for (const ok of ["dfly", "dfly-prod", "a_b", "R2"]) expect(serviceBaseFromEnv({ DFLY_CLUSTER: ok }).cluster).toBe(ok);
    for (const bad of ["dfly.prod", "a*", "a>", "a b", "été"]) expect(() => serviceBaseFromEnv({ DFLY_CLUSTER: bad }), bad).toThrow(/DFLY_CLUSTER=.*letters, digits/);
    expect(() => netisrConfigFromEnv({ DFLY_CPU: "0", DFLY_CLUSTER: "dfly.prod" })).toThrow(NetisrEnvError);
    expect(() => controlConfigFromEnv({ DFLY_CLUSTER: "dfly.prod" })).toThrow(ServiceEnvError);
  });

  it("createTransport refuses a bad replica count before connecting", async () => {
    // Port 9 on loopback: nothing listens, but the check comes first, so the error is the config's.
    await expect(createTransport({ natsUrl: "nats://127.0.0.1:9", kvReplicas: 0 })).rejects.toThrow(ServiceEnvError);
    const saved = process.env.DFLY_KV_REPLICAS;
    process.env.DFLY_KV_REPLICAS = "6";
    try {
      await expect(createTransport({ natsUrl: "nats://127.0.0.1:9" })).rejects.toThrow("DFLY_KV_REPLICAS=6");
    } finally {
      if (saved === undefined) delete process.env.DFLY_KV_REPLICAS;
      else process.env.DFLY_KV_REPLICAS = saved;
    }
  });
});

describe("envInt", () => {
  it("default when absent or empty, the value in range, else the given error class", () => {
    expect(envInt("X", undefined, 7, 0, 10)).toBe(7);
    expect(envInt("X", "", 7, 0, 10)).toBe(7);
    expect(envInt("X", "10", 7, 0, 10)).toBe(10);
    expect(() => envInt("X", "11", 7, 0, 10)).toThrow("X=11 is not an integer in 0..10");
    expect(() => envInt("X", "1e", 7, 0, 10, NicEnvError)).toThrow(NicEnvError);
  });
});
