/**
 * net.inet sysctls on one CPU: the control's writes (sysctlSet netmsg, each value with its KV
 * revision) and reads (sysctlGet), and the stored values a CPU loads when it registers. A CPU keeps
 * the newest revision per name, so a late snapshot never undoes a newer write. A write is checked
 * whole (names, ranges, the engine's config rules) before anything changes.
 */
import { sysctlLookup, sysctlParseValue, sysctlPatch, sysctlRead, type SysctlTargets, type TcpConfig } from "@dfly/core";
import type { Msg } from "@dfly/transport";
import { decodeSysctlNetmsg, encodeNetmsg, NETMSG, type SysctlSetting } from "@dfly/wire";
import type { Netisr } from "./netisr.js";
import type { TcpNetisr } from "./tcp_netisr.js";

export class NetisrSysctl {
  private readonly revs = new Map<string, number>();
  /** Malformed sysctl netmsgs. */
  bad = 0;

  constructor(
    private readonly netisr: Netisr,
    private readonly tcp: TcpNetisr | undefined,
  ) {}

  private targets(): SysctlTargets {
    const n = this.netisr;
    return {
      tcp: this.tcp?.tcpConfig() ?? ({} as TcpConfig),
      syncache: { syncookies: this.tcp?.synCookies ?? true },
      ip: { forwarding: n.forwarding, maxfragpackets: n.reass.maxfragpackets, maxfragsperpacket: n.reass.maxfragsperpacket },
      icmp: { icmplim: n.limiter.limit },
    };
  }

  /** Every knob's value here (TCP knobs are absent from a CPU without TCP). */
  read(): Record<string, number> {
    const r = sysctlRead(this.targets());
    if (!this.tcp) for (const k of Object.keys(r)) if (r[k] === undefined) delete r[k];
    return r;
  }

  /** Applies the settings newer than what this CPU holds; throws (nothing changed) on a bad name, value or combination. */
  apply(settings: Record<string, SysctlSetting>): Record<string, number> {
    const fresh = new Map<string, number>();
    for (const [name, s] of Object.entries(settings)) {
      const v = sysctlParseValue(sysctlLookup(name), String(s.value));
      if (s.revision > (this.revs.get(name) ?? -1)) fresh.set(name, v);
    }
    const p = sysctlPatch(fresh);
    if (Object.keys(p.tcp).length > 0 || p.syncache.syncookies !== undefined) {
      if (!this.tcp) throw new Error(`netisr ${this.netisr.cpu}: TCP is off on this CPU`);
      this.tcp.setTcpConfig(p.tcp as Partial<TcpConfig>, p.syncache.syncookies as boolean | undefined);
    }
    const n = this.netisr;
    if (p.ip.forwarding !== undefined) n.forwarding = p.ip.forwarding as boolean;
    if (p.ip.maxfragpackets !== undefined) n.reass.maxfragpackets = p.ip.maxfragpackets as number;
    if (p.ip.maxfragsperpacket !== undefined) n.reass.maxfragsperpacket = p.ip.maxfragsperpacket as number;
    if (p.icmp.icmplim !== undefined) n.limiter.limit = p.icmp.icmplim as number;
    for (const name of fresh.keys()) this.revs.set(name, settings[name].revision);
    return this.read();
  }

  /** The port handler of sysctlSet and sysctlGet: answers with this CPU's values, or the error. */
  handle(m: Msg): void {
    const d = decodeSysctlNetmsg(m.data);
    if (typeof d === "string") {
      this.bad++;
      m.respond(encodeNetmsg.reply(0, false, undefined, `netisr ${this.netisr.cpu}: bad sysctl netmsg (${d})`));
      return;
    }
    let reply: Uint8Array;
    try {
      reply = encodeNetmsg.reply(d.id, true, d.type === NETMSG.sysctlSet ? this.apply(d.values) : this.read());
    } catch (err) {
      reply = encodeNetmsg.reply(d.id, false, undefined, (err as Error).message);
    }
    m.respond(reply);
  }
}
