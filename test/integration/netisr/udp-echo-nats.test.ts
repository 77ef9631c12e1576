/**
 * The UDP echo service over a real nats-server: 4 netisr CPUs, each with its own NATS
 * connection, the NIC's RX ring 0 (owned by CPU 0) fed over NATS. Frames for another CPU are
 * redispatched over NATS; each datagram must be taken, and its reply sent, on the CPU its
 * address pair hashes to, as an independent Toeplitz (test/support/udp-ref.ts, checked against
 * the shared vectors in udp_echo.test.ts) and netisr_hashcpu predict.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { udpEcho } from "@dfly/apps";
import { startNetisr, UdpSockets, type NetisrHandle } from "@dfly/netisr/internal";
import { createTransport, decodeFrameBatch, encodeFrameBatch, subjects, type Transport } from "@dfly/transport";
import type { TopologyMsg } from "@dfly/wire";
import { startNatsProcess, type NatsProcess } from "../../support/nats-process.js";
import { addrOf, hashcpuRef, hexBytes, udpChecksumOk, udpDatagramRef, udpPairHashRef } from "../../support/udp-ref.js";

const KEY = hexBytes("6d5a".repeat(20));
const SERVER = addrOf("198.18.0.1");
const NCPUS = 4;

let nats: NatsProcess;
beforeAll(async () => {
  nats = await startNatsProcess();
});
afterAll(async () => {
  await nats?.stop();
});

describe("UDP echo on 4 CPUs over NATS", () => {
  it("per-CPU udps_ipackets and udps_opackets equal the reference's prediction; every reply intact", async () => {
    const cluster = `udp${process.pid}`;
    const topology: TopologyMsg = {
      epoch: 1,
      cpus: [0, 1, 2, 3],
      rssKey: "6d5a".repeat(20),
      interfaces: [{ ifname: "ix0", model: "82599", mode: "interrupt", rings: 1, ringToCpu: [0], redirect: new Array(128).fill(0), addresses: ["198.18.0.1/16"] }],
    };
    const transports: Transport[] = [];
    const cpus: NetisrHandle[] = [];
    try {
      for (let c = 0; c < NCPUS; c++) {
        const t = await createTransport({ natsUrl: nats.url, name: `${cluster}-cpu${c}` });
        transports.push(t);
        cpus.push(await startNetisr({ transport: t, cluster, cpu: c, topology, routes: [{ prefix: "198.18.0.0/16", ifname: "ix0" }], tcp: false }));
      }
      const so = new UdpSockets(cpus.map((h) => h.udp));
      const echo = udpEcho(so);
      const nic = await createTransport({ natsUrl: nats.url, name: `${cluster}-nic` });
      transports.push(nic);
      const replies: Uint8Array[] = [];
      nic.subscribe(subjects.tx(cluster, "ix0", 0), (m) => {
        const fr = decodeFrameBatch(m.data);
        if (typeof fr !== "string") for (const f of fr) replies.push(f.data);
      });
      await nic.flush();

      const reqs: { src: number; sport: number; data: number[]; cpu: number }[] = [];
      for (let a = 0; a < 64; a++) {
        const src = addrOf(`198.18.${2 + (a >> 4)}.${20 + (a & 15)}`);
        for (let p = 0; p < 4; p++) {
          const data = Array.from({ length: 8 + ((a + p) % 64) }, (_, i) => (a ^ (p * 37) ^ i) & 255);
          reqs.push({ src, sport: 2000 + a * 4 + p, data, cpu: hashcpuRef(udpPairHashRef(KEY, src, SERVER), NCPUS) });
        }
      }
      const expected = new Array(NCPUS).fill(0);
      for (const r of reqs) expected[r.cpu]++;
      expect(expected.every((n) => n > 0)).toBe(true);
      for (let i = 0; i < reqs.length; i += 32) {
        const frames = reqs.slice(i, i + 32).map((r) => ({ data: udpDatagramRef({ src: r.src, dst: SERVER, sport: r.sport, dport: 7, data: r.data }), hash: udpPairHashRef(KEY, r.src, SERVER) | 0 }));
        nic.publish(subjects.rx(cluster, "ix0", 0), encodeFrameBatch(frames));
      }
      const end = Date.now() + 15_000;
      while (replies.length < reqs.length && Date.now() < end) await new Promise((r) => setTimeout(r, 20));

      expect(replies).toHaveLength(reqs.length);
      expect(cpus.map((h) => h.udp.stats.udps_ipackets)).toEqual(expected);
      expect(cpus.map((h) => h.udp.stats.udps_opackets)).toEqual(expected);
      expect(cpus.map((h) => h.service.netisr.stats.redispatchReceived)).toEqual(expected.map((n, c) => (c === 0 ? 0 : n)));
      expect(echo.echoed).toBe(reqs.length);
      expect(so.stats).toMatchObject({ asyncSends: reqs.length, asyncSent: reqs.length, asyncDropped: 0 });
      const want = new Map(reqs.map((r) => [`${r.src}:${r.sport}`, r.data]));
      for (const d of replies) {
        const dst = ((d[16] << 24) | (d[17] << 16) | (d[18] << 8) | d[19]) >>> 0;
        const key = `${dst}:${(d[22] << 8) | d[23]}`;
        expect([...d.subarray(28)]).toEqual(want.get(key));
        expect(udpChecksumOk(d)).toBe(true);
        want.delete(key);
      }
      expect(want.size).toBe(0);
    } finally {
      for (const h of cpus) await h.stop();
      for (const t of transports) await t.close();
    }
  }, 60_000);
});
