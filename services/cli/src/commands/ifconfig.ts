/**
 * `dfly ifconfig`: interfaces as the control's topology has them: model, mode,
 * addresses, rings after the ringmap fix-up, ring→CPU map, redirection table.
 */
import { topologyMsgOf } from "@dfly/control";
import type { TopologyMsg } from "@dfly/wire";
import { UsageError, type Command } from "../command.js";
import { clientOptions, parseCli, printJson, withControl } from "./control.js";

export function formatTopology(t: TopologyMsg, only?: string): string {
  let out = "";
  for (const i of t.interfaces) {
    if (only && i.ifname !== only) continue;
    out += `${i.ifname}: model ${i.model || "-"} mode ${i.mode}${i.mode === "polling" ? ` pollhz ${i.pollhz}` : ""} unit ${i.unit ?? 0}\n`;
    for (const a of i.addresses) out += `\tinet ${a}\n`;
    out += `\trings ${i.rings} (offered ${i.hwRings ?? i.rings}) ring->cpu ${i.ringToCpu.map((c, r) => `${r}:${c}`).join(" ") || "-"}\n`;
    out += `\tredirect[${i.redirect.length}] ${i.redirect.slice(0, 32).join(" ")}${i.redirect.length > 32 ? " ..." : ""}\n`;
  }
  out += `epoch ${t.epoch} cpus ${t.cpus.join(",") || "none"} rss-key ${t.rssKey.slice(0, 8)}...(${t.rssKey.length / 2} bytes)\n`;
  return out;
}

const ifconfig: Command = {
  path: ["ifconfig"],
  summary: "interfaces: rings, ring->CPU map, redirection table, mode",
  usage: "dfly ifconfig [IFNAME] [--json] [--control HOST:PORT] [--tls-ca FILE] [--token T]",
  async run(argv, io) {
    const { values, positionals } = parseCli(argv, clientOptions);
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
    const r = await withControl(values, (c) => c.getTopology());
    const t = topologyMsgOf(r.topology!);
    const only = positionals[0];
    if (only && !t.interfaces.some((i) => i.ifname === only)) {
      io.stderr(`dfly ifconfig: interface ${only} does not exist\n`);
      return 1;
    }
    if (values.json) printJson(io, only ? { ...t, interfaces: t.interfaces.filter((i) => i.ifname === only) } : t);
    else io.stdout(formatTopology(t, only));
    return 0;
  },
};

export const ifconfigCommands: Command[] = [ifconfig];
