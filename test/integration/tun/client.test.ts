/**
 * Our TCP as the client of a real server: nginx in the test's namespace, `dfly run --workload
 * http-short --tun dfly0 --target 198.18.0.2:8080` in the same namespace. Our client counts
 * complete 200 responses (status, Content-Length, the server's FIN); tshark, reassembling the
 * capture of the device on its own, exports every HTTP body, each checked by sha256 against
 * the file nginx serves.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DFLY, LINUX, Netns, requireTools, sha256, type Proc } from "./netns.js";

describe("our client against nginx over TUN", () => {
  let ns: Netns;
  let nginx: Proc;
  const dir = mkdtempSync(join(tmpdir(), "dfly-tun-client-"));
  const body = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7919 + (i >> 8)) & 0xff));
  beforeAll(async () => {
    requireTools(["nginx", "nginx-light"], ["tshark", "tshark"]);
    mkdirSync(join(dir, "www"));
    writeFileSync(join(dir, "www", "obj"), body);
    writeFileSync(
      join(dir, "nginx.conf"),
      `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log stderr warn;
events { worker_connections 256; }
http { access_log off; default_type application/octet-stream;
  client_body_temp_path ${dir}/t1; proxy_temp_path ${dir}/t2; fastcgi_temp_path ${dir}/t3; uwsgi_temp_path ${dir}/t4; scgi_temp_path ${dir}/t5;
  server { listen 8080; root ${dir}/www; keepalive_timeout 5; } }
`,
    );
    ns = new Netns("client");
    nginx = ns.start(["nginx", "-c", join(dir, "nginx.conf"), "-p", dir]);
    // nginx logs nothing on start: ready when the port answers inside the namespace.
    for (let i = 0; i < 50; i++) {
      if (ns.exec(["sh", "-c", "ss -ltn | grep -q ':8080 '"]).status === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  afterAll(async () => {
    await nginx?.stop();
    await ns?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("every response is complete and intact", () => {
    const pcap = join(dir, "client.pcap");
    const r = ns.exec([process.execPath, DFLY, "run", "--tun", "dfly0", "--workload", "http-short", "--target", `${LINUX}:8080`, "--path", "/obj",
      "--clients", "8", "--requests", "300", "--duration", "30s", "--pcap", pcap, "--json"], 60_000);
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout.toString()) as { completed: number; errorCount: number; unfinished: number };
    expect(rep.errorCount).toBe(0);
    expect(rep.unfinished).toBe(0);
    expect(rep.completed).toBeGreaterThanOrEqual(300);
    const out = join(dir, "objects");
    mkdirSync(out);
    const t = spawnSync("tshark", ["-r", pcap, "-q", "--export-objects", `http,${out}`], { encoding: "utf8" });
    expect(t.status, t.stderr).toBe(0);
    const files = readdirSync(out);
    expect(files.length).toBe(rep.completed);
    const want = sha256(body);
    const bad = files.filter((f) => sha256(readFileSync(join(out, f))) !== want);
    expect(bad).toEqual([]);
  }, 90_000);
});
