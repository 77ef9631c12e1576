/**
 * `dfly bench tcp-memory [--conns N] [--cpus N] [--json]`: heap bytes per idle established
 * connection on a server host (target ≤ 1 KiB; see bench/tcpmem.ts). A report, not a test.
 */
import type { Command } from "../command.js";
import { measureTcpMemory } from "../bench/tcpmem.js";
import { intOpt, parseFlags } from "../flags.js";

const benchTcpMem: Command = {
  path: ["bench", "tcp-memory"],
  summary: "heap bytes per idle ESTABLISHED connection (server side: PCB, TCB, socket, fd), 100K by default",
  usage: "dfly bench tcp-memory [--conns N] [--cpus N] [--json]",
  async run(argv, io) {
    const v = parseFlags(argv, { conns: { type: "string" }, cpus: { type: "string" }, json: { type: "boolean", default: false } });
    const r = await measureTcpMemory({ conns: intOpt("conns", v.conns, 1, 2_000_000) ?? 100_000, cpus: intOpt("cpus", v.cpus, 1, 128) ?? 1 });
    if (v.json) io.stdout(JSON.stringify(r, null, 2) + "\n");
    else {
      io.stdout(
        `dfly bench tcp-memory: ${r.established} idle ESTABLISHED connections on ${r.cpus} CPU(s)\n` +
          `  heap ${(r.heapBytesBefore / 1048576).toFixed(1)} MiB → ${(r.heapBytesAfter / 1048576).toFixed(1)} MiB: ${r.bytesPerConnection} bytes per connection (target ≤ ${r.targetBytes}: ${r.withinTarget ? "met" : "NOT met"})\n`,
      );
    }
    return 0;
  },
};

export const benchTcpMemCommands: Command[] = [benchTcpMem];
