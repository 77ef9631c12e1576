#!/usr/bin/env node
/**
 * Loss recovery against Linux through the TUN wire (run as root; needs ip, curl, socat):
 * `dfly run --tun` in a namespace of its own with the NIC's impairments on the wire out
 * (loss, reordering, duplicates and a delay spike that outlasts the RTO), then
 *   - a download (GET /bytes/N, stack → Linux) checked byte for byte, and
 *   - an upload through echo (:7, Linux → stack → Linux) of random bytes, checked by sha256,
 * and the stack's tcpstat counters.
 *
 *   node scripts/tun-recovery.mjs [--bytes N] [--echo-bytes N] [--tcp ecn=1,…] [--json]
 *       one run (default 200 MB each way)
 *   node scripts/tun-recovery.mjs --table [--bytes N] [--json]
 *       the same download with each switch off against all on, one after the other in one
 *       run: goodput and retransmissions per row (one sample each: the machine is noisy)
 */
import { Buffer } from "node:buffer";
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { clearTimeout, setTimeout } from "node:timers";
import { fileURLToPath } from "node:url";

const DFLY = fileURLToPath(new URL("../services/cli/dist/main.js", import.meta.url));
const STACK = "198.18.0.1";
export const IMPAIR = ["--loss", "0.01", "--reorder", "0.02", "--dup", "0.005", "--spike", "400ms@2s"];
const COUNTERS = [
  "sndpack", "sndrexmitpack", "rexmttimeo", "sndfastrexmit", "sndearlyrexmit", "eifeldetected", "rttcantdetect",
  "sndrtobad", "sndfastrexmitbad", "eifelresponse", "ncrheld", "sackrescue", "rcvdsack", "snddsackopt",
  "ecn_shs", "ecn_ect0", "ecn_ce", "ecn_rcwnd",
];

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { maxBuffer: 1 << 30, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr?.toString() ?? r.error}`);
  return r.stdout;
}

const patternOf = (n) => Buffer.alloc(n, "dfly-netstack\n", "latin1");
const sha = (b) => createHash("sha256").update(b).digest("hex");

/**
 * One stack with `tcp` switches and the impairments, a download of `bytes` and an echo of
 * `echoBytes` (0: none). Returns goodput, integrity and the counters.
 */
export async function runOnce({ bytes, echoBytes, tcp, impair = IMPAIR, tag = "run", ecnLinux = true, pcap }) {
  const ns = `tcprec-${tag}-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), "tcprec-"));
  sh("ip", ["netns", "add", ns]);
  let p;
  try {
    sh("ip", ["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
    if (ecnLinux) sh("ip", ["netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_ecn=1"]);
    const args = [DFLY, "run", "--tun", "dfly0", "--json", ...impair, ...(tcp ? ["--tcp", tcp] : []), ...(pcap ? ["--pcap", pcap] : [])];
    p = spawn("ip", ["netns", "exec", ns, process.execPath, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    const exited = new Promise((r) => p.once("exit", r));
    await new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`dfly run not ready: ${err}`)), 60_000);
      p.stderr.on("data", (d) => {
        err += d;
        if (/dfly serve: 198\.18\.0\.1/.test(err)) {
          clearTimeout(t);
          res();
        }
      });
      void exited.then((c) => rej(new Error(`dfly run exited ${c}: ${err}`)));
    });
    const limit = Math.max(60, Math.ceil(bytes / 200_000));
    const t0 = performance.now();
    const dl = join(dir, "dl");
    sh("ip", ["netns", "exec", ns, "curl", "-sS", "--fail", "--max-time", String(limit), "-o", dl, `http://${STACK}/bytes/${bytes}`]);
    const downMs = performance.now() - t0;
    const got = readFileSync(dl);
    const downOk = got.length === bytes && sha(got) === sha(patternOf(bytes));
    rmSync(dl);
    let up;
    if (echoBytes > 0) {
      const src = join(dir, "up");
      const back = join(dir, "back");
      const data = randomBytes(echoBytes);
      writeFileSync(src, data);
      const t1 = performance.now();
      sh("sh", ["-c", `ip netns exec ${ns} timeout ${limit * 2} socat -t 30 - TCP:${STACK}:7 < ${src} > ${back}`]);
      const upMs = performance.now() - t1;
      const echoed = readFileSync(back);
      up = { bytes: echoBytes, ms: Math.round(upMs), mbps: +((echoBytes * 8) / upMs / 1000).toFixed(2), intact: echoed.length === echoBytes && sha(echoed) === sha(data) };
    }
    p.kill("SIGTERM");
    const code = await exited;
    if (code !== 0) throw new Error(`dfly run exited ${code}: ${err.slice(-2000)}`);
    const r = JSON.parse(out);
    const tcpStats = Object.fromEntries(COUNTERS.map((k) => [k, r.tcp[k] ?? 0]));
    return {
      tcp: tcp ?? "defaults",
      down: { bytes, ms: Math.round(downMs), mbps: +((bytes * 8) / downMs / 1000).toFixed(2), intact: downOk },
      ...(up ? { up } : {}),
      counters: tcpStats,
      nicDropped: r.nic.ix0?.dropped ?? {},
    };
  } finally {
    if (p && p.exitCode === null) p.kill("SIGKILL");
    spawnSync("ip", ["netns", "del", ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Rows of the on/off table: all on (DragonFly's defaults plus ECN), then each switch off. */
export const TABLE = [
  ["all on", "ecn=1"],
  ["eifel off", "ecn=1,eifel=0"],
  ["ncr off", "ecn=1,ncr=0"],
  ["rescuesack off", "ecn=1,rescueSack=0"],
  ["dsack off", "ecn=1,dsack=0"],
  ["earlyretransmit off", "ecn=1,earlyRetransmit=0"],
  ["ecn off", "ecn=0"],
];

async function main() {
  const argv = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : dflt;
  };
  if (process.getuid?.() !== 0) throw new Error("run as root: the script creates a network namespace and a TUN device");
  const json = argv.includes("--json");
  if (argv.includes("--table")) {
    const bytes = Number(opt("bytes", "8000000"));
    const rows = [];
    for (const [name, tcp] of TABLE) {
      const r = await runOnce({ bytes, echoBytes: 0, tcp, tag: "table" });
      rows.push({ row: name, mbps: r.down.mbps, intact: r.down.intact, ...r.counters });
      if (!json) process.stderr.write(`${name}: ${r.down.mbps} Mbit/s, ${r.counters.sndrexmitpack} retransmitted, ${r.counters.rexmttimeo} timeouts\n`);
    }
    process.stdout.write(JSON.stringify({ impair: IMPAIR.join(" "), bytes, rows }, null, json ? 2 : 0) + "\n");
    return;
  }
  const bytes = Number(opt("bytes", String(200 * 1024 * 1024)));
  const echoBytes = Number(opt("echo-bytes", String(bytes)));
  const r = await runOnce({ bytes, echoBytes, tcp: opt("tcp", "ecn=1") });
  process.stdout.write(JSON.stringify(r, null, json ? 2 : 0) + "\n");
  if (!r.down.intact || (r.up && !r.up.intact)) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    process.stderr.write(`tun-recovery: ${e.message}\n`);
    process.exitCode = 1;
  });
}
