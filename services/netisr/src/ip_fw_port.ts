// The ipfw netmsgs of a CPU's port: install the replicated rule set, answer `show` (counters, digest, states), take the
// states a leaving CPU hands over; and the clock tick that expires states (ipfw_tick).
import { IpfwRuleError, IPFW_REJECT_REASONS } from "@dfly/core";
import { decodeIpfwNetmsg, encodeNetmsg, NETMSG } from "@dfly/wire";
import type { Msg } from "@dfly/transport";
import type { IpfwHook } from "./ip_fw.js";
import type { NetmsgRegistry } from "./netmsg.js";

/** Expiry walk period. A lookup expires its own state; the walk reclaims the rest, a whole table per WALK_TICKS ticks. */
const TICK_MS = 250;
const WALK_TICKS = 40;

export interface IpfwPort {
  /** Malformed ipfw netmsgs. */
  bad: number;
  /** States received in hand-overs, and those that did not fit. */
  statesIn: number;
  statesLost: number;
  stop(): void;
}

/** The `show` reply body of one CPU. */
export function ipfwShowBody(h: IpfwHook) {
  const c = h.chain;
  const rejected: Record<string, number> = {};
  IPFW_REJECT_REASONS.forEach((r, i) => (rejected[r] = c.stats.rejected[i]));
  return {
    digest: h.digest,
    revision: h.revision,
    rules: c.show(),
    states: c.states.size,
    stateMax: c.states.max,
    created: c.stats.stateCreated,
    expired: c.stats.stateExpired,
    hits: c.stats.stateHits,
    crossCpu: c.stats.crossCpuLookups,
    rejected,
  };
}

export function registerIpfwPort(port: NetmsgRegistry, h: IpfwHook): IpfwPort {
  const st: IpfwPort = { bad: 0, statesIn: 0, statesLost: 0, stop: () => clearInterval(timer) };
  const handle = (m: Msg) => {
    const r = decodeIpfwNetmsg(m.data);
    if (typeof r === "string") {
      st.bad++;
      return;
    }
    switch (r.type) {
      case NETMSG.ipfwSet:
        try {
          // A replay of an older revision (a retried fan-out overtaken by a newer one) changes nothing.
          if (r.revision >= h.revision) h.install(r.set, r.revision);
          m.respond(encodeNetmsg.reply(r.id, true, { digest: h.digest, revision: h.revision }));
        } catch (err) {
          m.respond(encodeNetmsg.reply(r.id, false, undefined, err instanceof IpfwRuleError ? err.message : String(err)));
        }
        return;
      case NETMSG.ipfwShow:
        m.respond(encodeNetmsg.reply(r.id, true, ipfwShowBody(h)));
        return;
      case NETMSG.ipfwStates: {
        const n = h.putStates(r.states);
        st.statesIn += n;
        st.statesLost += r.states.length - n;
        return;
      }
    }
  };
  port.register(["ipfwSet", "ipfwShow", "ipfwStates"], handle);
  const budget = () => Math.max(1024, Math.ceil(h.chain.states.buckets / WALK_TICKS));
  const timer = setInterval(() => h.tick(budget()), TICK_MS);
  timer.unref();
  return st;
}
