// ipfw states across a live rescale. A leaving CPU hands each state to its flow's future owner (the TCBs' futureOwner)
// once its TCBs are handed over, before it deregisters: until then the NIC still steers the flows to it, and it
// checks them against its own states. During a scale-up a connection keeps living where it was made while its
// bucket's new owner redispatches its segments there: that CPU never saw the SYN and holds no state, so its ipfw lets
// the segment go on to the connection's home, where the state lives (the redispatched segment skips ip_input there).
import { encodeIpfwNetmsg, type IpfwStateWire } from "@dfly/wire";
import type { IpfwHook } from "./ip_fw.js";
import { tupleKey } from "./rescale_home.js";
import type { TcpRescale } from "./tcp_rescale.js";

/** Most states in one hand-over netmsg. */
const BATCH = 4096;

/** Connects the hook to the rescale layer: TCP segments of connections living on another CPU pass to their home. */
export function ipfwRescaleBind(r: TcpRescale, h: IpfwHook): void {
  h.elsewhere = (buf, off, hlen) => {
    if (buf[off + 9] !== 6) return false;
    const grace = r.grace.active;
    const handed = r.ipfwHanded;
    if (!grace && !handed && r.chase.moved.size === 0 && r.home.foreign.size === 0) return false;
    const t = off + hlen;
    if ((buf[t + 13] & 0x12) === 0x02) return false; // a SYN opens a flow here: checked here
    // Drained: the states went with the TCBs; what still arrives here before the NIC learns the new topology is
    // sent on by TCP to the CPU that holds both.
    if (handed) return true;
    const rd = (o: number) => ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
    const src = rd(off + 12);
    const dst = rd(off + 16);
    const sport = (buf[t] << 8) | buf[t + 1];
    const dport = (buf[t + 2] << 8) | buf[t + 3];
    if (r.tcp.ensureHost().pcb.pcbinfo[r.me].lookupConn(src, sport, dst, dport)) return false; // lives here
    const key = tupleKey(dst, dport, src, sport);
    const mv = r.chase.moved.get(key);
    if (mv) return mv.cpu !== r.me;
    const home = r.home.foreign.get(key);
    if (home !== undefined) return home !== r.me;
    // Right after an epoch change TCP holds segments of unknown connections until their home is known (grace):
    // they go home or are refused by TCP, so the firewall leaves them to it.
    return grace;
  };
}

/** A draining CPU's states, each to the CPU that will own its flow's bucket; returns how many were sent. */
export function ipfwHandStates(r: TcpRescale, h: IpfwHook | undefined): number {
  if (!h) return 0;
  r.ipfwHanded = true;
  const host = r.tcp.ensureHost();
  const groups = new Map<number, IpfwStateWire[]>();
  const list = h.takeStates(() => true);
  for (const s of list) {
    const hash = host.hashOf(s.a, s.ports >>> 16, s.b, s.ports & 0xffff);
    const to = r.handover.futureOwner(hash);
    if (to === undefined) continue;
    let g = groups.get(to);
    if (!g) groups.set(to, (g = []));
    g.push(s);
  }
  let n = 0;
  for (const [to, g] of groups) {
    for (let i = 0; i < g.length; i += BATCH) {
      const b = g.slice(i, i + BATCH);
      r.publish(to, encodeIpfwNetmsg.states(b));
      n += b.length;
    }
  }
  return n;
}
