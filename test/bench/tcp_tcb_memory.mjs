#!/usr/bin/env node
/**
 * Heap bytes per idle ESTABLISHED TCP connection (issue 4 target: ≤ 1 KiB).
 *
 *   npx tsc -b services/core && node --expose-gc test/bench/tcp_tcb_memory.mjs [N]
 *
 * Builds N connections (default 100 000) on one TcpEngine through the syncache
 * interface (SYN → entry → SYN|ACK → ACK → ESTABLISHED TCB), keeps them in an array
 * as an INPCB table would, and reports the heap growth after a full GC, per
 * connection. The same run measures a baseline — N plain objects with as many
 * integer fields as a TcpCb, all in-object — the floor for that many fields in V8.
 * Prints JSON.
 */
import { TcpEngine, TcpState, TcpCb } from "../../services/core/dist/index.js";

if (typeof globalThis.gc !== "function") {
  console.error("run with node --expose-gc");
  process.exit(2);
}
const N = Number(process.argv[2] ?? 100_000);
if (!Number.isInteger(N) || N <= 0 || N > 2_000_000) {
  console.error(`N must be an integer in 1..2000000, got ${process.argv[2]}`);
  process.exit(2);
}

function heap() {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
}

const engine = new TcpEngine({ now: 0, output: () => {}, issSecret: 1, tsSecret: 2 });
const LADDR = 0xc0000201; // 192.0.2.1
const EMPTY = new Uint8Array(0);

// warm up the code and the hidden class outside the measurement
function open(i, keep) {
  const faddr = (0xc6336400 + (i >>> 16)) >>> 0; // 198.51.100.0/24 and up
  const fport = 1024 + (i & 0xffff) % 60000;
  const syn = { src: faddr, dst: LADDR, sport: fport, dport: 80, seq: (i * 7919) >>> 0, ack: 0, flags: 0x02, window: 65535,
    options: { mss: 1460, wscale: 7, sackPermitted: true, timestamp: { val: i >>> 0, ecr: 0 } }, payload: EMPTY };
  const entry = engine.synEntry(syn, 0);
  const ack = { src: faddr, dst: LADDR, sport: fport, dport: 80, seq: (syn.seq + 1) >>> 0, ack: (entry.iss + 1) >>> 0, flags: 0x10,
    window: 512, options: { timestamp: { val: (i + 1) >>> 0, ecr: 0 } }, payload: EMPTY };
  const tp = engine.syncacheSocket(entry, ack, 0);
  if (!tp || tp.state !== TcpState.ESTABLISHED) throw new Error(`connection ${i} did not establish`);
  keep.push(tp);
}
const warm = [];
for (let i = 0; i < 1000; i++) open(i, warm);

const before = heap();
const table = [];
for (let i = 0; i < N; i++) open(i + 1000, table);
const after = heap();
const perTcb = (after - before) / N;

// baseline: the least an object with this many small-integer fields can take in V8
// (a class whose constructor sets them all, so they sit in the object itself), kept in an array
const fields = Object.keys(table[0]).length;
const Plain = new Function(`return class Plain { constructor() { ${Array.from({ length: fields }, (_, f) => `this.f${f} = ${f};`).join(" ")} } }`)();
const b0 = heap();
const plain = [];
for (let i = 0; i < N; i++) plain.push(new Plain());
const b1 = heap();
const perPlain = (b1 - b0) / N;

console.log(JSON.stringify({
  bench: "tcp_tcb_memory",
  connections: N,
  heapBytesPerEstablishedTcb: Math.round(perTcb),
  baselinePlainObjectBytes: Math.round(perPlain),
  ratioToBaseline: +(perTcb / perPlain).toFixed(3),
  targetBytes: 1024,
  ratioToTarget: +(perTcb / 1024).toFixed(3),
  tcbFields: fields,
  timerHeapEntries: engine.timers.size,
  node: process.version,
}));
void TcpCb;
void warm;
void plain.length;
