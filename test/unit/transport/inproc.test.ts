import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import {
  InprocHub,
  NoRespondersError,
  RequestTimeoutError,
  decodeFrameBatch,
  encodeFrameBatch,
  type InprocTransport,
  type Msg,
} from "@dfly/transport";
import { bundleWorker } from "../../support/bundle-worker.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (u: Uint8Array) => new TextDecoder().decode(u);
const next = (t: InprocTransport, subject: string) => new Promise<Msg>((res) => { const s = t.subscribe(subject, (m) => { s.unsubscribe(); res(m); }); });

describe("in-process transport, one thread", () => {
  it("patterns, queue groups, request/reply, flush", async () => {
    const hub = new InprocHub();
    const a = await hub.connect();
    const b = await hub.connect();
    const got: string[] = [];
    a.subscribe("x.*.z", (m) => got.push(`star:${m.subject}`));
    a.subscribe("x.>", (m) => got.push(`gt:${m.subject}`));
    b.subscribe("x.y.z", (m) => got.push(`b:${m.subject}`));
    await a.flush();
    await b.flush();
    b.publish("x.y.z", enc("1"));
    a.publish("x.q", enc("2"));
    await a.flush();
    await b.flush();
    await new Promise((r) => setTimeout(r, 10));
    expect(got.sort()).toEqual(["b:x.y.z", "gt:x.q", "gt:x.y.z", "star:x.y.z"]);

    const hits = { a: 0, b: 0 };
    a.subscribe("work", () => hits.a++, { queue: "w" });
    b.subscribe("work", () => hits.b++, { queue: "w" });
    await a.flush();
    await b.flush();
    for (let i = 0; i < 100; i++) a.publish("work", enc(String(i)));
    await a.flush();
    await new Promise((r) => setTimeout(r, 10));
    expect(hits.a + hits.b).toBe(100);
    expect(hits.a).toBeGreaterThan(0);
    expect(hits.b).toBeGreaterThan(0);

    b.subscribe("svc", (m) => m.respond(enc(`re:${dec(m.data)}`)));
    await b.flush();
    expect(dec((await a.request("svc", enc("hi"))).data)).toBe("re:hi");
    await expect(a.request("nobody", enc(""))).rejects.toBeInstanceOf(NoRespondersError);
    b.subscribe("silent", () => {});
    await b.flush();
    await expect(a.request("silent", enc(""), { timeoutMs: 30 })).rejects.toBeInstanceOf(RequestTimeoutError);
    expect(() => a.publish("bad..subject", enc(""))).toThrow(/bad subject/);
    expect(() => a.subscribe("a.>.b", () => {})).toThrow(/bad subject/);
    await a.close();
    await b.close();
    hub.close();
  });
});

describe("in-process transport across a real worker_thread", () => {
  let hub: InprocHub;
  let main: InprocTransport;
  let worker: Worker;

  beforeAll(async () => {
    const file = await bundleWorker(fileURLToPath(new URL("./fixtures/inproc-worker.ts", import.meta.url)));
    hub = new InprocHub();
    main = await hub.connect();
    const link = hub.link();
    worker = new Worker(file, { workerData: { link }, transferList: link.transferList });
    await new Promise<void>((res, rej) => {
      worker.once("message", (m) => (m === "ready" ? res() : rej(new Error(String(m)))));
      worker.once("error", rej);
    });
  });
  afterAll(async () => {
    await main.close();
    hub.close();
    await worker.terminate();
  });

  it("request/reply crosses the thread", async () => {
    const r = await main.request("t.echo.a.b", enc("abc"), { timeoutMs: 2000 });
    expect(dec(r.data)).toBe("cba");
  });

  it("a batch is transferred (not copied), modified in place by the worker and sent back", async () => {
    const frames = [1, 2, 3].map((i) => ({ data: new Uint8Array(64).fill(i), hash: i }));
    const batch = encodeFrameBatch(frames);
    const back = next(main, "t.back");
    await main.flush();
    main.publish("t.batch", batch, { transfer: true });
    expect(batch.buffer.byteLength).toBe(0); // moved to the worker, no copy left here
    const m = await back;
    const out = decodeFrameBatch(m.data);
    if (typeof out === "string") throw new Error(out);
    expect(out.map((f) => [f.hash, f.data[0], f.data[63]])).toEqual([[1, 2, 1], [2, 3, 2], [3, 4, 3]]);
  });

  it("without transfer the publisher keeps its buffer", async () => {
    const batch = encodeFrameBatch([{ data: new Uint8Array(8).fill(5), hash: 9 }]);
    const back = next(main, "t.back");
    await main.flush();
    main.publish("t.batch", batch);
    expect(batch.buffer.byteLength).toBeGreaterThan(0);
    const out = decodeFrameBatch((await back).data);
    expect(out).toEqual([{ data: Uint8Array.of(6, 5, 5, 5, 5, 5, 5, 5), hash: 9, tag: 0 }]);
    expect(decodeFrameBatch(batch)).toEqual([{ data: new Uint8Array(8).fill(5), hash: 9, tag: 0 }]);
  });

  it("queue group spans the threads; each message is taken once", async () => {
    main.subscribe("t.q", (m) => m.respond(enc("main")), { queue: "g" });
    await main.flush();
    const who: string[] = [];
    for (let i = 0; i < 20; i++) who.push(dec((await main.request("t.q", enc(""), { timeoutMs: 2000 })).data));
    expect(who.filter((w) => w === "main").length).toBeGreaterThan(0);
    expect(who.filter((w) => w.startsWith("worker:")).length).toBeGreaterThan(0);
  });

  it("a peer that closes disappears from routing", async () => {
    const closed = new Promise((res) => worker.once("message", res));
    main.publish("t.close", enc(""));
    expect(await closed).toBe("closed");
    await main.flush();
    await new Promise((r) => setTimeout(r, 20));
    await expect(main.request("t.echo.a", enc("x"), { timeoutMs: 500 })).rejects.toBeInstanceOf(NoRespondersError);
  });
});
