/** connect(2) on a host (DragonFly's tcp_connect, `tcp_connect_place`): prefer a port hashing to this CPU, else place on the owner CPU. */
import { INP, InpcbAddrInUseError, tcpConnectPlace, tcpConnOptionsMerge, type TcpConnOptions } from "@dfly/core";
import { So, type SoOwner } from "./so.js";
import type { TcpHost } from "./tcp_host.js";

/** An operation on a CPU this thread does not run. */
export class TcpNotLocalError extends Error {
  override readonly name = "TcpNotLocalError";
  constructor(
    readonly cpu: number,
    /** connect(): the local port the search chose (the owner CPU must use it). */
    readonly lport = 0,
  ) {
    super(`cpu ${cpu} is not run by this thread`);
  }
}

/** connect(2) from CPU `from`; the owner CPU must be local (else `TcpNotLocalError`). `searched`: `lport` came from another CPU's search. */
export function tcpHostConnect(
  host: TcpHost, from: number, so: So | null, laddr: number, faddr: number, fport: number, owner: SoOwner, opts: TcpConnOptions, lport: number, searched: boolean,
): So {
  const src = host.cpu(from);
  const pcb = host.pcb;
  const inp = pcb.alloc(from);
  let cpu: number;
  try {
    if (lport !== 0 && searched) {
      inp.laddr = laddr;
      inp.lport = lport;
      inp.faddr = faddr;
      inp.fport = fport;
      inp.flags |= INP.ANONPORT;
      if (pcb.lookupLocalRemote(laddr, lport, faddr, fport)) throw new InpcbAddrInUseError(laddr, lport, faddr, fport);
      pcb.insPortHash(inp);
    } else if (lport !== 0) pcb.bind(inp, laddr, lport, {});
    else inp.laddr = laddr;
    const place = tcpConnectPlace(pcb, inp, faddr, fport, from);
    cpu = place.cpu;
    if (!host.cpus[cpu]) throw new TcpNotLocalError(cpu, place.lport);
    pcb.connect(inp, faddr, fport, cpu);
  } catch (err) {
    pcb.detach(inp);
    throw err;
  }
  src.stats.connects++;
  const s = so ?? new So(cpu, inp);
  s.cpu = cpu;
  s.inp = inp;
  s.owner = owner;
  const tp = host.cpus[cpu]!.engine.connect(laddr, inp.lport, faddr, fport, host.now(), tcpConnOptionsMerge(host.routeOpts?.(faddr), opts, s));
  inp.ppcb = tp;
  s.tp = tp;
  return s;
}
