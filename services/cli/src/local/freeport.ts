/** A TCP port free on 127.0.0.1 right now (for a process started next to hand it on its command line). */
import { createServer } from "node:net";

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}
