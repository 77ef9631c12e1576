/**
 * `dfly bench tun [--requests N] [--concurrency C] [--bytes N] [--cpus N] [--json]`: real Linux
 * clients (ab, curl) against our TCP over a TUN device vs against Linux (bench/tun.ts). Root
 * only: it creates and deletes its own network namespaces.
 */
import type { Command } from "../command.js";
import { runTunBench } from "../bench/tun.js";
import { intOpt, parseFlags } from "../flags.js";

const benchTun: Command = {
  path: ["bench", "tun"],
  summary: "ab short connections and a curl download: our TCP over TUN vs nginx/Linux (network namespaces, root)",
  usage: "dfly bench tun [--requests 20000] [--concurrency 64] [--bytes 209715200] [--cpus 2] [--json]",
  async run(argv, io) {
    const v = parseFlags(argv, {
      requests: { type: "string" },
      concurrency: { type: "string" },
      bytes: { type: "string" },
      cpus: { type: "string" },
      json: { type: "boolean", default: false },
    });
    const r = await runTunBench({
      requests: intOpt("requests", v.requests, 1, 10_000_000) ?? 20_000,
      concurrency: intOpt("concurrency", v.concurrency, 1, 20_000) ?? 64,
      bytes: intOpt("bytes", v.bytes, 1, 2 ** 40) ?? 209_715_200,
      cpus: intOpt("cpus", v.cpus, 1, 128) ?? 2,
      ...(v.json ? {} : { log: (s: string) => io.stderr(`${s}\n`) }),
    });
    if (v.json) io.stdout(JSON.stringify(r, null, 2) + "\n");
    else {
      io.stdout(
        `dfly bench tun: ab -n ${r.requests} -c ${r.concurrency}: ${r.tps} tps over TUN vs ${r.baselineTps} against nginx\n` +
          `  curl ${r.bytes} bytes: ${r.throughputMBps} MB/s over TUN vs ${r.baselineThroughputMBps} MB/s Linux to Linux (veth)\n`,
      );
    }
    return 0;
  },
};

export const benchTunCommands: Command[] = [benchTun];
