/**
 * `dfly bench tun`: real Linux clients against our TCP over a TUN device, next to the same
 * clients against Linux itself. All of it runs in network namespaces the bench creates and
 * deletes (root needed); nothing touches the host's interfaces.
 *
 *   tps / baselineTps: ApacheBench short connections (HTTP/1.0, one request each, concurrency
 *     64) against `dfly run --tun` (our httpd at 198.18.0.1, GET /) vs against nginx in the same
 *     namespace (127.0.0.1, a 1 KB file);
 *   throughputMBps / baselineThroughputMBps: one curl download (200 MB by default) of
 *     /bytes/N from our httpd vs from nginx in a second namespace over a veth pair
 *     (198.18.1.1 ↔ 198.18.1.2), Linux to Linux.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, closeSync, openSync, ftruncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface TunBenchOptions {
  requests: number;
  concurrency: number;
  bytes: number;
  cpus: number;
  log?: (s: string) => void;
}

export interface TunBenchResult {
  tps: number;
  baselineTps: number;
  throughputMBps: number;
  baselineThroughputMBps: number;
  requests: number;
  concurrency: number;
  bytes: number;
  cpus: number;
}

export class TunBenchError extends Error {
  override readonly name = "TunBenchError";
}

function sh(cmd: string, args: string[], timeoutMs = 600_000): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 16 << 20 });
  if (r.error) throw new TunBenchError(`${cmd}: ${r.error.message}${(r.error as NodeJS.ErrnoException).code === "ENOENT" ? " (scripts/setup-machine.sh installs it)" : ""}`);
  if (r.status !== 0) throw new TunBenchError(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr.trim().slice(-500)}`);
  return r.stdout;
}

const inNs = (ns: string, cmd: string[], timeoutMs?: number) => sh("ip", ["netns", "exec", ns, ...cmd], timeoutMs);

function abTps(ns: string, url: string, n: number, c: number): number {
  const out = inNs(ns, ["ab", "-q", "-r", "-n", String(n), "-c", String(c), url]);
  const failed = Number(/Failed requests:\s+(\d+)/.exec(out)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  if (failed !== 0 || non2xx !== 0) throw new TunBenchError(`ab ${url}: ${failed} failed, ${non2xx} non-2xx`);
  return Math.round(Number(/Requests per second:\s+([\d.]+)/.exec(out)?.[1] ?? 0));
}

function curlMBps(ns: string, url: string, bytes: number): number {
  const out = inNs(ns, ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url]);
  const [size, secs] = out.trim().split(" ").map(Number);
  if (size !== bytes) throw new TunBenchError(`curl ${url}: ${size} bytes, want ${bytes}`);
  return Math.round((size / 1e6 / secs) * 10) / 10;
}

function nginxConf(dir: string, listen: string): string {
  const f = join(dir, `nginx-${listen.replace(/[^0-9]/g, "_")}.conf`);
  writeFileSync(
    f,
    `daemon off; master_process off; worker_processes 1; pid ${f}.pid; error_log stderr error;
events { worker_connections 1024; }
http { access_log off; default_type application/octet-stream; sendfile on;
  client_body_temp_path ${dir}/t1; proxy_temp_path ${dir}/t2; fastcgi_temp_path ${dir}/t3; uwsgi_temp_path ${dir}/t4; scgi_temp_path ${dir}/t5;
  server { listen ${listen}; root ${dir}/www; location /bytes/ { try_files /big =404; } } }
`,
  );
  return f;
}

async function waitPort(ns: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = spawnSync("ip", ["netns", "exec", ns, "sh", "-c", `ss -ltn | grep -q ':${port} '`]);
    if (r.status === 0) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new TunBenchError(`nothing listens on port ${port} in ${ns}`);
}

export async function runTunBench(o: TunBenchOptions): Promise<TunBenchResult> {
  if (process.getuid?.() !== 0) throw new TunBenchError("dfly bench tun creates network namespaces and a TUN device: run it as root");
  const log = o.log ?? (() => undefined);
  const tag = `${process.pid}`;
  const nsA = `dflybench-a-${tag}`;
  const nsB = `dflybench-b-${tag}`;
  const nsC = `dflybench-c-${tag}`;
  const dir = mkdtempSync(join(tmpdir(), "dfly-bench-tun-"));
  const kids: ReturnType<typeof spawn>[] = [];
  const made: string[] = [];
  const start = (ns: string, cmd: string[]) => {
    const p = spawn("ip", ["netns", "exec", ns, ...cmd], { stdio: ["ignore", "ignore", "pipe"] });
    kids.push(p);
    return p;
  };
  try {
    for (const ns of [nsA, nsB, nsC]) {
      sh("ip", ["netns", "add", ns]);
      made.push(ns);
      inNs(ns, ["ip", "link", "set", "lo", "up"]);
    }
    mkdirSync(join(dir, "www"));
    writeFileSync(join(dir, "www", "index.html"), Buffer.alloc(1024, "dfly-netstack\n"));
    const fd = openSync(join(dir, "www", "big"), "w");
    ftruncateSync(fd, o.bytes);
    closeSync(fd);

    // Ours: dfly run --tun in namespace A.
    const dfly = fileURLToPath(new URL("../main.js", import.meta.url));
    const serve = start(nsA, [process.execPath, dfly, "run", "--tun", "dfly0", "--cpus", String(o.cpus)]);
    await new Promise<void>((res, rej) => {
      let err = "";
      serve.stderr!.on("data", (d: Buffer) => {
        err += d.toString();
        if (/dfly serve: 198\.18\.0\.1/.test(err)) res();
      });
      serve.once("exit", (code) => rej(new TunBenchError(`dfly run --tun exited (${code}): ${err.trim()}`)));
    });
    log(`ab -n ${o.requests} -c ${o.concurrency} against our httpd over TUN`);
    const tps = abTps(nsA, "http://198.18.0.1/", o.requests, o.concurrency);
    log(`curl ${o.bytes} bytes from our httpd over TUN`);
    const throughputMBps = curlMBps(nsA, `http://198.18.0.1/bytes/${o.bytes}`, o.bytes);
    serve.kill("SIGTERM");
    await new Promise((r) => serve.once("exit", r));

    // Linux: nginx in namespace A (loopback) for ab; nginx in C over a veth pair from B for curl.
    start(nsA, ["nginx", "-c", nginxConf(dir, "127.0.0.1:8080"), "-p", dir]);
    await waitPort(nsA, 8080);
    log(`ab -n ${o.requests} -c ${o.concurrency} against nginx in the same namespace`);
    const baselineTps = abTps(nsA, "http://127.0.0.1:8080/", o.requests, o.concurrency);
    sh("ip", ["link", "add", `dfb${tag}`, "netns", nsB, "type", "veth", "peer", "name", `dfc${tag}`, "netns", nsC]);
    inNs(nsB, ["ip", "addr", "add", "198.18.1.1/24", "dev", `dfb${tag}`]);
    inNs(nsC, ["ip", "addr", "add", "198.18.1.2/24", "dev", `dfc${tag}`]);
    inNs(nsB, ["ip", "link", "set", `dfb${tag}`, "up"]);
    inNs(nsC, ["ip", "link", "set", `dfc${tag}`, "up"]);
    start(nsC, ["nginx", "-c", nginxConf(dir, "198.18.1.2:8080"), "-p", dir]);
    await waitPort(nsC, 8080);
    log(`curl ${o.bytes} bytes from nginx over a veth pair`);
    const baselineThroughputMBps = curlMBps(nsB, `http://198.18.1.2:8080/bytes/${o.bytes}`, o.bytes);
    return { tps, baselineTps, throughputMBps, baselineThroughputMBps, requests: o.requests, concurrency: o.concurrency, bytes: o.bytes, cpus: o.cpus };
  } finally {
    for (const k of kids) {
      if (k.exitCode === null && k.signalCode === null) {
        k.kill("SIGTERM");
        await new Promise((r) => k.once("exit", r));
      }
    }
    for (const ns of made) spawnSync("ip", ["netns", "del", ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}
