/** The socket outside the TCB (DragonFly's sys/sys/socketvar.h): `So`, its events and owner interfaces. */
import { TCP_STATE_NAMES, type Inpcb, type TcpCb } from "@dfly/core";
import type { ListenerRec } from "./tcp_listen.js";

/** What a socket owner hears about (kqueue-style readiness, plus the outcome of connect). */
export const SoEvent = {
  /** A listener has completed connections waiting for accept(). */
  ACCEPT: "accept",
  /** connect() completed. */
  CONNECTED: "connected",
  /** Data is waiting for recv(). */
  READABLE: "readable",
  /** The send buffer has room again after a short send(). */
  WRITABLE: "writable",
  /** The peer sent FIN: recv() returns what is left, then end of stream. */
  EOF: "eof",
  /** The connection failed (refused, reset, timed out, aborted); `err` says why. */
  ERROR: "error",
  /** The connection is gone (after ERROR, or when the TCB is released while still held). */
  CLOSED: "closed",
  /** Moved to another CPU (`err`: "<cpu>/<id>"); consumed by `Sockets`, like DragonFly's `tcp_sosetport`. */
  MOVED: "moved",
  /**
   * The owner CPU took bytes of a remote program's asynchronous sends into the socket's send buffer
   * (`err`: how many): send credit back to the program; consumed by `Sockets`.
   */
  SENT: "sent",
} as const;
export type SoEvent = (typeof SoEvent)[keyof typeof SoEvent];

/** Receives the events of the sockets it holds. */
export interface SoOwner {
  soEvent(so: So, ev: SoEvent, err: string | null): void;
}

/** Receives "connections are waiting" for the listeners it owns. */
export interface ListenOwner {
  /** Listener `rec` has completed connections on CPU `cpu` (an index). */
  acceptable(rec: ListenerRec, cpu: number): void;
}

/** A connection socket on its owner CPU; small on purpose (memory per connection). */
export class So {
  /** The program's handle (fd) for it, -1 while nobody holds it (on an accept queue, or closed). */
  fd = -1;
  owner: SoOwner | null = null;
  /** Id for remote access over the CPU's port (0 until given one). */
  id = 0;
  tp: TcpCb | null = null;
  constructor(
    public cpu: number,
    public inp: Inpcb<TcpCb>,
  ) {}

  get state(): string {
    return this.tp ? TCP_STATE_NAMES[this.tp.t_state] : "CLOSED";
  }
}
