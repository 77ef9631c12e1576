import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  KvExistsError,
  NatsTransport,
  NoRespondersError,
  RequestTimeoutError,
  createTransport,
  decodeFrameBatch,
  encodeFrameBatch,
  type KvEntry,
  type Msg,
} from "@dfly/transport";
import { startNatsProcess, type NatsProcess } from "../../support/nats-process.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (u: Uint8Array) => new TextDecoder().decode(u);

describe("NATS transport over a real nats-server", () => {
  let nats: NatsProcess;
  let a: NatsTransport;
  let b: NatsTransport;

  beforeAll(async () => {
    nats = await startNatsProcess();
    a = await NatsTransport.connect({ url: nats.url, name: "a" });
    const t = await createTransport({ natsUrl: nats.url, name: "b" });
    expect(t.kind).toBe("nats");
    b = t as NatsTransport;
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await nats?.stop();
  });

  it("KV buckets get DFLY_KV_REPLICAS replicas: 3 cannot be made on this single server, 1 can", async () => {
    const saved = process.env.DFLY_KV_REPLICAS;
    process.env.DFLY_KV_REPLICAS = "3";
    let r3: NatsTransport | undefined;
    try {
      r3 = (await createTransport({ natsUrl: nats.url, name: "r3" })) as NatsTransport;
    } finally {
      if (saved === undefined) delete process.env.DFLY_KV_REPLICAS;
      else process.env.DFLY_KV_REPLICAS = saved;
    }
    try {
      await expect(r3.kv("replicas-three")).rejects.toThrow(/replica|cluster/i);
    } finally {
      await r3.close();
    }
    const r1 = (await createTransport({ natsUrl: nats.url, name: "r1", kvReplicas: 1 })) as NatsTransport;
    try {
      await (await r1.kv("replicas-one")).put("k", enc("v"));
    } finally {
      await r1.close();
    }
  });

  it("frame batches, patterns, queue groups", async () => {
    const got: Msg[] = [];
    b.subscribe("dfly.nic.ix0.rx.*", (m) => got.push(m));
    const q = { x: 0, y: 0 };
    a.subscribe("work", () => q.x++, { queue: "g" });
    b.subscribe("work", () => q.y++, { queue: "g" });
    await b.flush();
    await a.flush();
    const batch = encodeFrameBatch([{ data: new Uint8Array(60).fill(1), hash: 0xabcdef01, tag: 2 }]);
    a.publish("dfly.nic.ix0.rx.3", batch, { transfer: true });
    for (let i = 0; i < 50; i++) a.publish("work", enc(String(i)));
    await a.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toHaveLength(1);
    expect(got[0].subject).toBe("dfly.nic.ix0.rx.3");
    expect(decodeFrameBatch(got[0].data)).toEqual([{ data: new Uint8Array(60).fill(1), hash: 0xabcdef01, tag: 2 }]);
    expect(q.x + q.y).toBe(50);
  });

  it("request/reply and its typed errors", async () => {
    b.subscribe("svc", (m) => m.respond(enc(`re:${dec(m.data)}`)));
    b.subscribe("silent", () => {});
    await b.flush();
    expect(dec((await a.request("svc", enc("x"))).data)).toBe("re:x");
    await expect(a.request("nobody.here", enc(""), { timeoutMs: 1000 })).rejects.toBeInstanceOf(NoRespondersError);
    await expect(a.request("silent", enc(""), { timeoutMs: 100 })).rejects.toBeInstanceOf(RequestTimeoutError);
  });

  it("JetStream KV: revisions, create, delete, watch, and it survives a server restart", async () => {
    const kv = await a.kv("test-bucket");
    const seen: KvEntry[] = [];
    const stop = await kv.watch((e) => seen.push(e));
    const r1 = await kv.put("routes.10.0.0.0/8", enc("one"));
    const r2 = await kv.put("other", enc("two"));
    expect(r2).toBeGreaterThan(r1);
    await expect(kv.create("other", enc("x"))).rejects.toBeInstanceOf(KvExistsError);
    await kv.delete("other");
    expect(await kv.get("other")).toBeUndefined();
    await kv.create("other", enc("three"));
    expect((await kv.keys()).sort()).toEqual(["other", "routes.10.0.0.0/8"]);
    await new Promise((r) => setTimeout(r, 200));
    stop();
    expect(seen.map((e) => [e.key, e.operation])).toEqual([
      ["routes.10.0.0.0/8", "PUT"],
      ["other", "PUT"],
      ["other", "DEL"],
      ["other", "PUT"],
    ]);

    await nats.restart();
    const c = await NatsTransport.connect({ url: nats.url });
    try {
      const kv2 = await c.kv("test-bucket");
      expect(dec((await kv2.get("routes.10.0.0.0/8"))!.value)).toBe("one");
      expect(dec((await kv2.get("other"))!.value)).toBe("three");
    } finally {
      await c.close();
    }
  });
});
