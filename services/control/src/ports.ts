/** Requests to every CPU's control port (`<c>.ctl.<cpu>`, the one path of everything the control says to CPUs) at once, keeping each CPU's outcome so a caller can name the ones that failed. */
import { NoRespondersError, RequestTimeoutError, subjects, type Transport } from "@dfly/transport";
import { NetmsgType, decodeNetmsg } from "@dfly/wire";

export interface CpuReply {
  cpu: number;
  ok: boolean;
  body?: unknown;
  /** Why not ok: "timeout after N ms", "no netisr on the port", the CPU's own error, "bad reply: …". */
  error?: string;
}

export class CpuPorts {
  private nextId = 1;

  constructor(
    private readonly transport: Transport,
    private readonly cluster: string,
    readonly timeoutMs = 2000,
  ) {}

  /** Sends `make(id)` to every CPU in `cpus` and waits for all replies (or their failure). */
  requestAll(cpus: readonly number[], make: (id: number) => Uint8Array): Promise<CpuReply[]> {
    return Promise.all(cpus.map((cpu) => this.request(cpu, make)));
  }

  /** One CPU; `timeoutMs` overrides the default (a big route batch takes longer than one change). */
  async request(cpu: number, make: (id: number) => Uint8Array, timeoutMs = this.timeoutMs): Promise<CpuReply> {
    const id = this.nextId++ >>> 0;
    try {
      const m = await this.transport.request(subjects.ctl(this.cluster, cpu), make(id), { timeoutMs });
      const r = decodeNetmsg(m.data);
      if (typeof r === "string") return { cpu, ok: false, error: `bad reply: ${r}` };
      if (r.type !== NetmsgType.reply) return { cpu, ok: false, error: `bad reply: type ${String(r.type)}` };
      if (r.id !== id) return { cpu, ok: false, error: `bad reply: id ${r.id}, expected ${id}` };
      return r.ok ? { cpu, ok: true, body: r.body } : { cpu, ok: false, error: r.error ?? "refused" };
    } catch (err) {
      if (err instanceof RequestTimeoutError) return { cpu, ok: false, error: `timeout after ${timeoutMs} ms` };
      if (err instanceof NoRespondersError) return { cpu, ok: false, error: "no netisr on the port" };
      return { cpu, ok: false, error: (err as Error).message };
    }
  }

  /** Fire-and-forget to every CPU (topology pushes). */
  publishAll(cpus: readonly number[], data: Uint8Array): void {
    for (const cpu of cpus) this.transport.publish(subjects.ctl(this.cluster, cpu), data);
  }
}
