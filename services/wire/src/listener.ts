/** A listen socket, one shape from the gRPC handler to the core; its one proto conversion is the control's `listener_proto.ts`. */
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

export type ListenRequest = Omit<ListenerSpec, "id" | "index">;
