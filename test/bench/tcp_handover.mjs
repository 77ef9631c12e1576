#!/usr/bin/env node
/**
 * Time to hand a leaving CPU's connections over (live rescale, services/netisr tcp_rescale.ts).
 *
 *   npx tsc -b && node test/bench/tcp_handover.mjs [N] [bytes]
 *
 * Two netisr CPUs on the in-process bus (fixed topology [0, 1]) and a peer host whose frames
 * are steered to CPU 1: N connections established (the baseline: the same N three-way
 * handshakes, measured in this run), `bytes` (default 4096) left in each receive buffer, then
 * CPU 1 drains — every connection's state goes to CPU 0 — and the peer's data must be
 * acknowledged by CPU 0 with no RST. Prints JSON: drain time, per connection, and the ratio
 * to the handshakes' time.
 */
/* global performance, setTimeout, setInterval, clearInterval, queueMicrotask */
import { buildTcpPacket, ipAddr, TcpFlags } from "../../services/core/dist/index.js";
import { ifnetTopology, nicInterfaceSpec } from "../../services/nic/dist/index.js";
import { startNetisr, TcpHost } from "../../services/netisr/dist/index.js";
import { FrameBatchCursor, InprocHub } from "../../services/transport/dist/index.js";

const N = Number(process.argv[2] ?? 2000);
const BYTES = Number(process.argv[3] ?? 4096);
const C = "hb";
const HOST = ipAddr("198.18.0.1");
const PEER = ipAddr("198.18.0.10");
const SPEC = nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt" });
const topo = { epoch: 1, cpus: [0, 1], interfaces: [ifnetTopology(SPEC, [0, 1])], rssKey: "" };
const until = async (f, what) => {
  const end = Date.now() + 120_000;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

const hub = new InprocHub();
const ts = [await hub.connect(), await hub.connect(), await hub.connect()];
const hs = [];
for (const cpu of [0, 1]) {
  const h = await startNetisr({
    transport: ts[cpu],
    cluster: C,
    cpu,
    topology: topo,
    routes: [{ prefix: "198.18.0.0/24", ifname: "ix0" }],
    tcp: { somaxconn: 65535, rescale: { announceMs: 0 } },
    lingerMs: 0,
  });
  h.tcp.ensureHost().listenInstall({ id: "L", laddr: 0, lport: 80, reuseport: false, backlog: 65535, owner: "app" });
  hs.push(h);
}
let nic = [0, 1];
const peer = new TcpHost({
  ncpus: 1,
  output: (_c, seg) => {
    const f = buildTcpPacket(seg);
    const o = nic[(peer.hashOf(PEER, seg.sport, HOST, seg.dport) & 127) % nic.length];
    queueMicrotask(() => hs[o].tcp.localInput(6, f, 0, 20, f.length));
  },
});
let rst = 0;
const cur = new FrameBatchCursor();
ts[2].subscribe(`${C}.nic.ix0.tx.*`, (m) => {
  if (cur.reset(m.data) !== null) return;
  while (cur.next()) {
    const f = cur.buf.subarray(cur.offset, cur.offset + cur.length).slice();
    if (f[33] & TcpFlags.RST) rst++;
    peer.inputFrame(f);
  }
});
await ts[2].flush();
const tick = setInterval(() => peer.tick(), 10);

const owner = { soEvent() {} };
const socks = [];
const t0 = performance.now();
for (let p = 20000; socks.length < N; p++) {
  if ((peer.hashOf(PEER, p, HOST, 80) & 127) % 2 !== 1) continue;
  socks.push(peer.connect(0, null, PEER, HOST, 80, owner, {}, p));
  if (socks.length % 200 === 0) await new Promise((r) => setTimeout(r, 1));
}
await until(() => socks.every((s) => s.state === "ESTABLISHED") && hs[1].tcp.host.pcb.pcbinfo[1].connCount === N, "handshakes");
const handshakeMs = performance.now() - t0;
if (BYTES > 0) for (const s of socks) peer.cpu(0).engine.send(s.tp, new Uint8Array(BYTES).fill(1), peer.now());
await until(() => socks.every((s) => s.tp.snd_una === s.tp.snd_max), "data acknowledged");

const t1 = performance.now();
const rep = await hs[1].tcp.rescale.drain();
const drainMs = performance.now() - t1;
nic = [0];
for (const s of socks) peer.cpu(0).engine.send(s.tp, new Uint8Array(100).fill(2), peer.now());
await until(() => socks.every((s) => s.tp.snd_una === s.tp.snd_max), "data after the hand-over acknowledged by CPU 0");
console.log(
  JSON.stringify({
    connections: N,
    bytesBuffered: BYTES,
    handedOver: rep.handedOver,
    failed: rep.failed,
    batches: rep.batches,
    drainMs: Math.round(drainMs),
    perConnectionUs: Math.round((drainMs * 1000) / N),
    baselineHandshakesMs: Math.round(handshakeMs),
    ratioToHandshakes: Number((drainMs / handshakeMs).toFixed(3)),
    installedOnCpu0: hs[0].tcp.rescale.stats.handoverIn,
    rst,
  }),
);
clearInterval(tick);
for (const h of hs) await h.stop();
for (const t of ts) await t.close();
hub.close();
