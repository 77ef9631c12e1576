// netstat -an over the cluster: a cursor walks each CPU's PCB list in turn, page by page (DragonFly's `tcp_pcblist`, paper §1.5);
// the CPU keeps running between pages, and a CPU that stops answering is reported while the walk goes on.
import { encodeNetmsg, SockNetmsg, type PcbPageWire } from "@dfly/wire";
import type { Pcb } from "./gen/dfly/netstack/v1/stats.js";
import type { CpuPorts } from "./ports.js";

/** Pages per CPU before the walk gives up on it (a runaway guard). */
const MAX_STEPS = 1_000_000;

export async function listPcbs(ports: CpuPorts, cpus: readonly number[], page = 256): Promise<{ pcbs: Pcb[]; unreachable: number[] }> {
  const pcbs: Pcb[] = [];
  const unreachable: number[] = [];
  const limit = Math.max(1, Math.min(page, 4096));
  for (const cpu of [...cpus].sort((a, b) => a - b)) {
    let token = 0;
    for (let step = 0; step < MAX_STEPS; step++) {
      const r = await ports.request(cpu, (id) => encodeNetmsg.socket(SockNetmsg.list, id, { token, limit }));
      if (!r.ok) {
        unreachable.push(cpu);
        break;
      }
      const b = r.body as PcbPageWire;
      for (const w of b.rows ?? []) {
        pcbs.push({
          cpu: w.cpu,
          proto: "tcp4",
          localAddress: w.laddr,
          localPort: w.lport,
          foreignAddress: w.faddr,
          foreignPort: w.fport,
          state: w.state,
          recvQ: w.recvQ,
          sendQ: w.sendQ,
          qlimit: w.qlimit,
          listenerId: w.listener,
          groupIndex: w.index,
        });
      }
      if (b.done || !b.token) break;
      token = b.token;
    }
  }
  return { pcbs, unreachable };
}
