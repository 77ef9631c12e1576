/**
 * netstat -an over the cluster: the PCB listing walks the CPUs one after another (paper
 * §1.5; DragonFly's `tcp_pcblist` migrates to each netisr in turn). On each CPU a cursor —
 * a marker PCB in that CPU's list — is opened by the first `list` netmsg and moved along
 * page by page; between two pages the CPU keeps running and may add or free PCBs, and the
 * walk stays correct (in_pcblist.ts). A CPU that stops answering is reported, the walk goes
 * on with the next one.
 */
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
