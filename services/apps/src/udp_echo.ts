/**
 * The echo service on UDP port 7 (RFC 862): every datagram is sent back to its sender, from the
 * address it was sent to. Replies use the asynchronous sendto, so they leave from the CPU the
 * request was handled on (its address pair's CPU).
 */
import type { UdpSockets } from "@dfly/netisr";

export const UDP_ECHO_PORT = 7;

export interface UdpEcho {
  readonly fd: number;
  /** Datagrams echoed. */
  readonly echoed: number;
  close(): void;
}

export function udpEcho(so: UdpSockets, port = UDP_ECHO_PORT, laddr = 0): UdpEcho {
  let echoed = 0;
  const fd = so.socket(() => {
    for (let d = so.recv(fd); d !== undefined; d = so.recv(fd)) {
      so.sendto(fd, d.data, d.src, d.sport, d.dst);
      echoed++;
    }
  });
  so.bind(fd, laddr, port);
  return {
    fd,
    get echoed() {
      return echoed;
    },
    close: () => so.close(fd),
  };
}
