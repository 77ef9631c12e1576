/** Socket calls over the CPUs' ports, the program side (`PortSockRemote`, DragonFly's so_port); JSON bodies, off the hot path. */
import { SockNetmsg, decodeNetmsg, encodeNetmsg, NetmsgType } from "@dfly/wire";
import { subjects, type Subscription, type Transport } from "@dfly/transport";
import type { SoEvent } from "./so.js";
import { RescaleNetmsg } from "./rescale_netmsg.js";
import type { RemoteConnectRequest, RemoteConnInfo, SockOpt, SockRemote } from "./so_api.js";
import type { Sockets } from "./so_sockets.js";

export const b64 = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString("base64");
export const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));

/** A remote socket call was refused by the CPU (its error message), or got no answer. */
export class SockRemoteError extends Error {
  override readonly name = "SockRemoteError";
  constructor(
    readonly cpu: number,
    readonly call: string,
    message: string,
  ) {
    super(`cpu ${cpu} ${call}: ${message}`);
  }
}

/** One socket event as a CPU publishes it: [socket id, event, error, data (base64)]. */
export type SockEventWire = [number, SoEvent, string | null, string | null];

export interface SockEventBody {
  cpu: number;
  ev: SockEventWire[];
  /** Listeners with connections waiting on that CPU. */
  acc: string[];
}

export class PortSockRemote implements SockRemote {
  private nextId = 1;

  constructor(
    private readonly t: Transport,
    private readonly cluster: string,
    /** CPU index → the CPU id whose port to use (topology order). */
    private readonly cpuId: (index: number) => number,
    readonly timeoutMs = 5000,
  ) {}

  private port(cpu: number): string {
    return subjects.netisr(this.cluster, this.cpuId(cpu));
  }

  private async call(cpu: number, type: number, name: string, body: unknown): Promise<unknown> {
    const id = this.nextId++ >>> 0;
    let m;
    try {
      m = await this.t.request(this.port(cpu), encodeNetmsg.socket(type, id, body), { timeoutMs: this.timeoutMs });
    } catch (err) {
      throw new SockRemoteError(cpu, name, (err as Error).message);
    }
    const r = decodeNetmsg(m.data);
    if (typeof r === "string" || r.type !== NetmsgType.reply) throw new SockRemoteError(cpu, name, `bad reply (${typeof r === "string" ? r : r.type})`);
    if (!r.ok) throw new SockRemoteError(cpu, name, r.error ?? "refused");
    return r.body;
  }

  private cast(cpu: number, type: number, body: unknown): void {
    this.t.publish(this.port(cpu), encodeNetmsg.socket(type, 0, body));
  }

  async accept(cpu: number, listener: string, owner: string, max: number): Promise<RemoteConnInfo[]> {
    const b = (await this.call(cpu, SockNetmsg.accept, "accept", { listener, owner, max })) as { conns?: (Omit<RemoteConnInfo, "data" | "cpu"> & { data?: string })[] };
    return (b.conns ?? []).map((c) => ({ ...c, cpu, ...(c.data ? { data: unb64(c.data) } : {}) }) as RemoteConnInfo);
  }

  async connect(cpu: number, req: RemoteConnectRequest): Promise<RemoteConnInfo> {
    const b = (await this.call(cpu, SockNetmsg.connect, "connect", req)) as Omit<RemoteConnInfo, "data">;
    if (!b || typeof b.id !== "number" || typeof b.cpu !== "number") throw new SockRemoteError(cpu, "connect", "bad reply");
    return b;
  }

  send(cpu: number, id: number, data: Uint8Array): void {
    this.cast(cpu, SockNetmsg.send, { id, data: b64(data) });
  }

  async sendSync(cpu: number, id: number, data: Uint8Array): Promise<number> {
    const b = (await this.call(cpu, SockNetmsg.send, "send", { id, data: b64(data), sync: true })) as { n?: number };
    return b.n ?? 0;
  }

  shutdown(cpu: number, id: number): void {
    this.cast(cpu, SockNetmsg.shutdown, { id });
  }

  close(cpu: number, id: number, abort: boolean): void {
    this.cast(cpu, SockNetmsg.close, { id, abort });
  }

  setsockopt(cpu: number, id: number, opt: SockOpt, value: number | boolean): void {
    this.cast(cpu, SockNetmsg.setopt, { id, opt, value });
  }

  /** Live rescale: the fence after a MOVED event, through the socket's old CPU (rescale_chase.ts). */
  fence(cpu: number, id: number): void {
    this.cast(cpu, RescaleNetmsg.fence, { id });
  }
}

/** Subscribes `<c>.sock.<owner>` and hands each event to `sockets`; malformed ones are counted in `bad`. */
export function attachSockEvents(t: Transport, cluster: string, sockets: Sockets): Subscription & { bad: number } {
  const h = { bad: 0 } as Subscription & { bad: number };
  const sub = t.subscribe(subjects.sock(cluster, sockets.owner), (m) => {
    const r = decodeNetmsg(m.data);
    if (typeof r === "string" || r.type !== "socket" || r.code !== SockNetmsg.event) {
      h.bad++;
      return;
    }
    const b = r.body as SockEventBody;
    if (typeof b !== "object" || b === null || !Number.isInteger(b.cpu) || !Array.isArray(b.ev) || !Array.isArray(b.acc)) {
      h.bad++;
      return;
    }
    for (const e of b.ev) {
      if (!Array.isArray(e) || typeof e[0] !== "number" || typeof e[1] !== "string") {
        h.bad++;
        continue;
      }
      sockets.remoteEvent(b.cpu, e[0], e[1], e[2] ?? null, typeof e[3] === "string" ? unb64(e[3]) : undefined);
    }
    for (const l of b.acc) if (typeof l === "string") sockets.remoteAcceptable(l, b.cpu);
  });
  Object.defineProperty(h, "subject", { value: sub.subject });
  h.unsubscribe = () => sub.unsubscribe();
  return h;
}
