/**
 * A listen socket, one shape from the gRPC handler to the core: the control validates it,
 * names it (`id`), gives it its SO_REUSEPORT slot (`index`), stores it in the KV bucket
 * `<c>-listeners`, sends it to every CPU in a `listen` netmsg, and each CPU installs it as is.
 * The one conversion to and from the proto messages is the control's `listener_proto.ts`.
 */
export interface ListenerSpec {
  /** Cluster-wide id (the control's, `L<n>`). */
  id: string;
  /** IPv4 address as a u32; 0 = INADDR_ANY. */
  laddr: number;
  lport: number;
  reuseport: boolean;
  /** listen(2) backlog; clamped by somaxconn (negative: somaxconn). */
  backlog: number;
  /** Who accepts: the socket-event owner (`<c>.sock.<owner>`). */
  owner: string;
  /** SO_REUSEPORT slot (inp_lgrpindex, the same on every CPU); absent without SO_REUSEPORT or before it is assigned. */
  index?: number;
  /** Accepted sockets inherit TCP_NODELAY and buffer sizes. */
  nodelay?: boolean;
  sndbuf?: number;
  rcvbuf?: number;
}

/** A listen(2) before the control names it: the spec without id and slot. */
export type ListenRequest = Omit<ListenerSpec, "id" | "index">;
