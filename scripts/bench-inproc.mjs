#!/usr/bin/env node
// Measures the in-process transport across a real worker_thread: frame batches of
// 256 x 64-byte frames published main -> worker, which walks every frame (cursor, no
// per-frame allocation). Modes: the transport copying each batch once, the transport
// transferring each batch's buffer, and the baseline: raw MessagePort postMessage with
// transfer (no transport) in the same run. Prints JSON. Needs `make build` first.
// Usage: node scripts/bench-inproc.mjs [--batches N] [--frames F] [--size B]
import { Worker, MessageChannel, isMainThread, parentPort, workerData } from "node:worker_threads";
import { parseArgs } from "node:util";

const T = await import(new URL("../services/transport/dist/index.js", import.meta.url).href);

function frames(batch, cursor) {
  let n = 0;
  if (cursor.reset(batch) === null) while (cursor.next()) n += cursor.length > 0 ? 1 : 1;
  return n;
}

if (!isMainThread) {
  const cursor = new T.FrameBatchCursor();
  const { link, raw, ack } = workerData;
  let seen = 0;
  const done = (n) => {
    seen += n;
    if (seen % ack < n) parentPort.postMessage(seen);
  };
  raw.on("message", (m) => done(frames(new Uint8Array(m.b, m.o, m.l), cursor)));
  const t = await T.connectInproc(link);
  t.subscribe("bench.rx", (m) => done(frames(m.data, cursor)));
  await t.flush();
  parentPort.postMessage("ready");
} else {
  const { values } = parseArgs({ options: { batches: { type: "string", default: "20000" }, frames: { type: "string", default: "256" }, size: { type: "string", default: "64" } } });
  const batches = Number(values.batches), nf = Number(values.frames), size = Number(values.size);
  const hub = new T.InprocHub();
  const main = await hub.connect();
  const link = hub.link();
  const ch = new MessageChannel();
  const ackEvery = nf * 64;
  const w = new Worker(new URL(import.meta.url), { workerData: { link, raw: ch.port2, ack: ackEvery }, transferList: [...link.transferList, ch.port2] });
  await new Promise((res) => w.once("message", res));
  await main.flush();
  let seen = 0;
  const waiters = [];
  w.on("message", (n) => {
    seen = n;
    while (waiters.length && waiters[0].n <= seen) waiters.shift().res();
  });
  const until = (n) => new Promise((res) => (seen >= n ? res() : waiters.push({ n, res })));
  const frame = new Uint8Array(size).fill(0x45);
  const makeBatch = () => {
    const wr = new T.FrameBatchWriter(T.BATCH_HEADER_BYTES + nf * (T.FRAME_HEADER_BYTES + size));
    for (let i = 0; i < nf; i++) wr.append(frame, i);
    return wr.take();
  };
  const template = makeBatch();
  async function run(name, send) {
    const start = seen;
    const target = start + batches * nf;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batches; i++) {
      send();
      // Bounded in-flight window (back-pressure) so memory stays flat.
      if (i % 64 === 63) await until(start + Math.max(0, (i - 256) * nf - ackEvery));
    }
    await until(target - (target % ackEvery));
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    return { name, seconds: +s.toFixed(3), batchesPerSec: Math.round(batches / s), framesPerSec: Math.round((batches * nf) / s), mbPerSec: +((batches * template.length) / s / 1e6).toFixed(1) };
  }
  const raw = await run("raw-postMessage-transfer", () => {
    const b = new Uint8Array(template);
    ch.port1.postMessage({ b: b.buffer, o: 0, l: b.length }, [b.buffer]);
  });
  const transfer = await run("inproc-transfer", () => main.publish("bench.rx", new Uint8Array(template), { transfer: true }));
  const copy = await run("inproc-copy", () => main.publish("bench.rx", template));
  console.log(JSON.stringify({
    bench: "inproc-transport",
    framesPerBatch: nf, frameBytes: size, batchBytes: template.length, batches,
    baseline: raw, transfer, copy,
    ratio: { transferVsRaw: +(transfer.framesPerSec / raw.framesPerSec).toFixed(3), copyVsRaw: +(copy.framesPerSec / raw.framesPerSec).toFixed(3) },
    note: "every mode allocates one fresh batch per send on the publisher (as a NIC filling a new ring batch); the copy mode's extra cost is the transport's slice",
  }, null, 2));
  await main.close();
  hub.close();
  await w.terminate();
}
