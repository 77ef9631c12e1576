// ipfw states across a live rescale. A leaving CPU hands each state to its flow's future owner, with (before) the TCBs
// (the same futureOwner as the TCP hand-over). During a scale-up a connection keeps living where it was made while its
// bucket's new owner redispatches its segments there: that CPU never saw the SYN and holds no state, so ipfw defers
// the segment to the connection's home, where its state lives.
import { encodeIpfwNetmsg, type IpfwStateWire } from "@dfly/wire";
import type { IpfwHook } from "./ip_fw.js";
import { tupleKey } from "./rescale_home.js";
import type { TcpRescale } from "./tcp_rescale.js";

/** Most states in one hand-over netmsg. */
const BATCH = 4096;

/** Connects the hook to the rescale layer: TCP segments of connections living on another CPU pass to their home. */
export function ipfwRescaleBind(r: TcpRescale, h: IpfwHook): void {
  h.elsewhere = (buf, off, hlen) => {
    if (buf[off + 9] !== 6 || (r.chase.moved.size === 0 && r.home.foreign.size === 0)) return false;
    const rd = (o: number) => ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
    const t = off + hlen;
    const key = tupleKey(rd(off + 16), (buf[t + 2] << 8) | buf[t + 3], rd(off + 12), (buf[t] << 8) | buf[t + 1]);
    const mv = r.chase.moved.get(key);
    if (mv) return mv.cpu !== r.me;
    const home = r.home.foreign.get(key);
    return home !== undefined && home !== r.me;
  };
}

/** A draining CPU's states, each to the CPU that will own its flow's bucket; returns how many were sent. */
export function ipfwHandStates(r: TcpRescale, h: IpfwHook | undefined): number {
  if (!h) return 0;
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
