/**
 * A TCP peer host on the NIC's TX side of a cluster on a transport: every frame the CPUs send
 * on `<c>.nic.ix0.tx.*` goes into `peer` (RSTs counted by `onRst`), and the peer's timers run
 * every 10 ms. Returns the cleanup.
 */
import { TcpFlags } from "@dfly/core";
import type { TcpHost } from "@dfly/netisr/internal";
import { FrameBatchCursor, type Transport } from "@dfly/transport";

export function wirePeerToTx(t: Transport, cluster: string, peer: TcpHost, onRst: () => void): () => void {
  const cur = new FrameBatchCursor();
  const sub = t.subscribe(`${cluster}.nic.ix0.tx.*`, (m) => {
    if (cur.reset(m.data) !== null) return;
    while (cur.next()) {
      const f = cur.buf.subarray(cur.offset, cur.offset + cur.length).slice();
      if (f[33] & TcpFlags.RST) onRst();
      peer.inputFrame(f);
    }
  });
  const tick = setInterval(() => peer.tick(), 10);
  return () => {
    clearInterval(tick);
    sub.unsubscribe();
  };
}
