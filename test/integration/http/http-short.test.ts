/**
 * The http-short workload on the real parts (embedded mode: the control's gRPC, the NIC,
 * one worker thread per netisr CPU running TCP and an httpd worker, the client host on the
 * wire), judged from outside:
 *
 *   - the pcap of a run, by tshark with checksum verification: no bad checksum, nothing
 *     malformed, every TCP conversation a complete handshake, request, response and close;
 *   - ownership in a 4-CPU run: each CPU processed exactly the segments whose hash names it
 *     (counted per CPU against the wire), nothing twice, connect migrations counted;
 *   - netstat -an while the load runs (StatsService.ListPcbs walking CPU after CPU);
 *   - a listener closed under load: DragonFly's heir serves on with zero client errors,
 *     Linux's original policy resets.
 *
 * Workers load compiled JavaScript: `make build` first (make test does).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ipPacketHash, ListenerPolicy, netisrHashcpu, PcapWriter, toeplitzHash, parseRouteAddress } from "@dfly/core";
import { ControlClient } from "@dfly/control";
import { dispatch, runHttpShort, type CliIO } from "@dfly/cli";

const tmp = mkdtempSync(join(tmpdir(), "dfly-http-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function io(): CliIO & { out: string; err: string } {
  const o = { out: "", err: "" } as CliIO & { out: string; err: string };
  o.stdout = (s) => void (o.out += s);
  o.stderr = (s) => void (o.err += s);
  o.stdin = async () => "";
  return o;
}

function tshark(args: string[]): string {
  const r = spawnSync("tshark", args, { encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.error) throw new Error(`tshark could not be run (${r.error.message}); install it with scripts/setup-machine.sh (Debian package "tshark")`);
  if (r.status !== 0) throw new Error(`tshark exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const SERVER = "198.18.0.1";
const PI_ERROR = 0x00800000;

describe("http-short, embedded (worker threads, gRPC control, NIC)", () => {
  it("its pcap, judged by tshark: checksums good, nothing malformed, every conversation complete", async () => {
    const pcap = new PcapWriter();
    let n = 0;
    const r = await runHttpShort({ cpus: 2, clients: 16, durationMs: 700, warmupMs: 200, tap: (f) => void pcap.add(f, n++ * 1e-6) });
    expect(r.errorCount).toBe(0);
    expect(r.completed).toBeGreaterThan(0);
    const file = join(tmp, "http-short.pcap");
    writeFileSync(file, pcap.bytes());
    const fields = ["ip.checksum.status", "tcp.checksum.status", "_ws.malformed", "_ws.expert.severity", "ip.src", "ip.dst", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.len"];
    const out = tshark([
      "-r", file, "-n", "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "tcp.analyze_sequence_numbers:FALSE",
      "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,", ...fields.flatMap((f) => ["-e", f]),
    ]);
    const rows = out.trimEnd().split("\n").map((l) => l.split("\t"));
    expect(rows.length).toBe(n);
    let bad = 0;
    // Conversations: by the client's port and address; a new one starts at each SYN from the client.
    type Conv = { flags: string[]; dirs: boolean[]; lens: number[] };
    const open = new Map<string, Conv>();
    const convs: Conv[] = [];
    for (const [ipSum, tcpSum, malformed, severity, src, dst, sport, dport, flags, len] of rows) {
      if (ipSum !== "1" || tcpSum !== "1" || malformed !== "" || severity.split(",").some((s) => s !== "" && Number(s) >= PI_ERROR)) bad++;
      const toServer = src !== SERVER;
      const k = toServer ? `${src}:${sport}` : `${dst}:${dport}`;
      const f = Number(flags);
      if (toServer && f === 0x02) {
        const c: Conv = { flags: [], dirs: [], lens: [] };
        convs.push(c);
        open.set(k, c);
      }
      const c = open.get(k);
      if (!c) continue;
      c.flags.push(flags);
      c.dirs.push(toServer);
      c.lens.push(Number(len));
    }
    expect(bad).toBe(0);
    expect(convs.length).toBeGreaterThan(16);
    for (const c of convs) {
      const has = (pred: (f: number, toServer: boolean, len: number) => boolean) => c.flags.some((f, i) => pred(Number(f), c.dirs[i], c.lens[i]));
      const ok =
        has((f, s) => s && f === 0x02) && // SYN
        has((f, s) => !s && (f & 0x12) === 0x12) && // SYN|ACK
        has((f, s) => s && (f & 0x10) !== 0 && !(f & 0x03)) && // the handshake's ACK (alone, or the request rides on it: aggregate_acks)
        has((_f, s, l) => s && l > 0) && // request
        has((_f, s, l) => !s && l > 1000) && // response: headers + 1 KB object
        has((f, s) => !s && (f & 0x01) !== 0) && // server FIN
        has((f, s) => s && (f & 0x01) !== 0) && // client FIN
        !has((f) => (f & 0x04) !== 0); // no RST
      expect(ok, `conversation ${JSON.stringify(c)}`).toBe(true);
      // …and it ends with the server acknowledging the client's FIN.
      const last = c.flags.length - 1;
      expect(c.dirs[last]).toBe(false);
      expect(Number(c.flags[last]) & 0x17).toBe(0x10);
    }
  });

  it("4 CPUs: every segment processed on its hash CPU, exactly once; connect migrations counted; netstat -an under load", async () => {
    const N = 4;
    const toServer = new Array<number>(N).fill(0);
    const toClientCpus = 3;
    const toClient = new Array<number>(toClientCpus).fill(0);
    let listing: { pcbs: { cpu: number; state: string; localAddress: string; localPort: number; foreignAddress: string; foreignPort: number; listenerId: string; groupIndex: number }[] } | undefined;
    let listeners: Awaited<ReturnType<ControlClient["listListeners"]>> | undefined;
    const r = await runHttpShort({
      cpus: N,
      clientCpus: toClientCpus,
      clients: 48,
      durationMs: 900,
      warmupMs: 200,
      tap: (f, s) => {
        const cpu = netisrHashcpu(toeplitzHash(ipPacketHash(f)), s ? N : toClientCpus);
        if (s) toServer[cpu]++;
        else toClient[cpu]++;
      },
      during: {
        atMs: 300,
        f: async (ec) => {
          const o = io();
          expect(await dispatch(["netstat", "-an", "--json", "--control", ec.control.grpcAddr], o)).toBe(0);
          listing = JSON.parse(o.out);
          const text = io();
          expect(await dispatch(["netstat", "-an", "--control", ec.control.grpcAddr], text)).toBe(0);
          expect(text.out).toMatch(/^Active Internet connections/);
          expect(text.out).toMatch(/\*\.80 +\*\.\* +LISTEN/);
          const c = new ControlClient(ec.control.grpcAddr);
          listeners = await c.listListeners();
          c.close();
        },
      },
    });
    expect(r.errorCount).toBe(0);
    // Server: each CPU's count equals the wire frames whose hash names it; none elsewhere.
    expect(r.server.perCpu.map((c) => c.segsIn)).toEqual(toServer);
    for (const c of r.server.perCpu) {
      expect(c.wrongcpu).toBe(0);
      expect(c.segsIn).toBeGreaterThan(0);
    }
    expect(r.clientPerCpu.map((c) => c.segsIn)).toEqual(toClient);
    expect(r.clientPerCpu.every((c) => c.wrongcpu === 0)).toBe(true);
    // 3 client CPUs: the port search sometimes finds no port on the calling CPU.
    expect(r.client.connectMigrations).toBeGreaterThan(0);
    expect(r.client.connectLocal + r.client.connectMigrations).toBeGreaterThan(r.completed);
    // With 4 workers in slots 0..3 every connection is accepted on the CPU that completed it.
    for (const c of r.server.perCpu) expect(c.accepted).toBe(c.completed);

    // netstat -an: a reference to each listener on every CPU, connections on their hash CPU.
    expect(listing).toBeDefined();
    const pcbs = listing!.pcbs;
    const listens = pcbs.filter((p) => p.state === "LISTEN");
    expect(listens.length).toBe(N * N);
    expect(new Set(listens.map((p) => `${p.cpu}/${p.listenerId}`)).size).toBe(N * N);
    expect(new Set(listens.map((p) => p.groupIndex))).toEqual(new Set([0, 1, 2, 3]));
    const conns = pcbs.filter((p) => p.state !== "LISTEN");
    expect(conns.length).toBeGreaterThan(0);
    for (const p of conns) {
      const h = toeplitzHash(ipPacketHashOf(p.foreignAddress, p.foreignPort, p.localAddress, p.localPort));
      expect(p.cpu, JSON.stringify(p)).toBe(netisrHashcpu(h, N));
    }
    expect(listeners!.listeners.map((l) => [l.port, l.reuseport, l.groupIndex])).toEqual([
      [80, true, 0],
      [80, true, 1],
      [80, true, 2],
      [80, true, 3],
    ]);
    for (const l of listeners!.listeners) expect(l.queues.map((q) => q.cpu).sort()).toEqual([0, 1, 2, 3]);
  });

  it("closing a listener under load: zero client errors with DragonFly's inheritance", async () => {
    const r = await runHttpShort({ cpus: 2, clients: 128, durationMs: 1200, warmupMs: 200, closeListener: { cpu: 0, atMs: 400 } });
    expect(r.listenerClose?.error).toBeUndefined();
    expect(r.listenerClose?.heir).toMatch(/^L\d+$/);
    expect(r.errorCount).toBe(0);
    expect(r.completed).toBeGreaterThan(128);
    // CPU 0 keeps completing handshakes; the heir's worker (CPU 1) accepts them over CPU 0's port.
    expect(r.httpdPerCpu[0].accepted).toBeLessThan(r.server.perCpu[0].completed);
    expect(r.httpdPerCpu[1].accepted).toBeGreaterThan(r.server.perCpu[1].completed);
    expect(r.server.perCpu[0].completed).toBe(r.server.perCpu[0].accepted); // none left unaccepted
  });

  it("closing a listener under load with Linux's original policy: resets are observed", async () => {
    const r = await runHttpShort({
      cpus: 2,
      clients: 128,
      durationMs: 1200,
      warmupMs: 200,
      policy: ListenerPolicy.LINUX,
      closeListener: { cpu: 0, atMs: 400 },
    });
    expect(r.listenerClose?.error).toBeUndefined();
    expect(r.errorCount).toBeGreaterThan(0);
    expect(r.errors.ECONNRESET).toBeGreaterThan(0);
  });
});

/** The packet hash of a TCP segment from `src` to `dst`, as the NIC computes it. */
function ipPacketHashOf(src: string, sport: number, dst: string, dport: number): number {
  const f = new Uint8Array(40);
  f[0] = 0x45;
  f[3] = 40;
  f[9] = 6;
  new DataView(f.buffer).setUint32(12, parseRouteAddress(src));
  new DataView(f.buffer).setUint32(16, parseRouteAddress(dst));
  new DataView(f.buffer).setUint16(20, sport);
  new DataView(f.buffer).setUint16(22, dport);
  f[32] = 0x50;
  return ipPacketHash(f);
}
