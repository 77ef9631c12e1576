/**
 * `dfly netstat -an`: every PCB of every CPU — state, addresses, the CPU that owns it, its
 * queues — as BSD's netstat prints them. The control walks the CPUs one after another, each
 * with a cursor through its PCB list that stays valid while connections come and go (paper
 * §1.5; StatsService.ListPcbs). A listener is referenced on every CPU: each CPU shows its
 * reference with its share of the accept queue (Recv-Q) and the limit.
 */
import type { Pcb } from "@dfly/control";
import { UsageError, type Command } from "../command.js";
import { clientOptions, parseFlags, printJson, withControl } from "./control.js";

function end(addr: string, port: number): string {
  return `${addr === "0.0.0.0" ? "*" : addr}.${port === 0 ? "*" : port}`;
}

export function formatPcbs(pcbs: readonly Pcb[]): string {
  const out: string[] = ["Active Internet connections (including servers)"];
  out.push(`${"Proto".padEnd(5)} ${"Recv-Q".padStart(6)} ${"Send-Q".padStart(6)}  ${"Local Address".padEnd(22)} ${"Foreign Address".padEnd(22)} ${"(state)".padEnd(12)} ${"CPU".padStart(3)}  Listener`);
  for (const p of pcbs) {
    const listen = p.state === "LISTEN";
    const lst = listen ? `${p.listenerId} slot ${p.groupIndex < 0 ? "-" : p.groupIndex}, queue ${p.recvQ}/${p.qlimit}` : p.listenerId ? `on ${p.listenerId}'s accept queue` : "";
    out.push(
      `${p.proto.padEnd(5)} ${String(p.recvQ).padStart(6)} ${String(p.sendQ).padStart(6)}  ${end(p.localAddress, p.localPort).padEnd(22)} ${(listen ? "*.*" : end(p.foreignAddress, p.foreignPort)).padEnd(22)} ${p.state.padEnd(12)} ${String(p.cpu).padStart(3)}  ${lst}`.trimEnd(),
    );
  }
  return out.join("\n") + "\n";
}

const netstatAn: Command = {
  path: ["netstat", "-an"],
  summary: "netstat -an: every CPU's PCBs (state, addresses, owner CPU, queues), walked CPU after CPU",
  usage: "dfly netstat -an [--page N] [--json] [--control HOST:PORT] [--tls-ca FILE] [--token T]",
  async run(argv, io) {
    const { values } = parseFlags(argv, { ...clientOptions, page: { type: "string" } });
    const page = values.page === undefined ? 256 : Number(values.page);
    if (!Number.isInteger(page) || page < 1 || page > 4096) throw new UsageError(`--page ${String(values.page)}: want 1..4096`);
    const r = await withControl(values, (c) => c.listPcbs(page));
    if (values.json) printJson(io, { pcbs: r.pcbs, unreachableCpus: r.unreachableCpus });
    else io.stdout(formatPcbs(r.pcbs));
    if (r.unreachableCpus.length > 0) io.stderr(`dfly netstat: cpus ${r.unreachableCpus.join(",")} did not answer (not listed)\n`);
    return 0;
  },
};

export const netstatAnCommands: Command[] = [netstatAn, { ...netstatAn, path: ["netstat", "-na"] }];
