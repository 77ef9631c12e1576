/**
 * The program of `dfly bench connect`, run in a netisr CPU's thread: method "run" opens `count`
 * connections to the listeners (`window` at a time), keeps every one open, and reports each
 * connection's 4-tuple and the CPU that holds it.
 */
import type { Program, ProgramContext } from "@dfly/netisr";
import { SoEvent } from "@dfly/netisr";

export interface ConnectRunArgs {
  count: number;
  faddr: number;
  /** Listener ports, used in turn. */
  ports: number[];
  window: number;
  timeoutMs: number;
}

export interface ConnectRunResult {
  cpu: number;
  connects: number;
  errors: number;
  /** Error messages seen (first 5). */
  why: string[];
  /** "laddr:lport:faddr:fport" of each connection. */
  tuples: string[];
  /** Connections held by another CPU than this one (the connect migrated). */
  remote: number;
  ms: number;
}

export function connectProgram(ctx: ProgramContext): Program {
  const s = ctx.tcp.sockets(`bench-connect-${ctx.cpu}`);
  const run = (a: ConnectRunArgs): Promise<ConnectRunResult> =>
    new Promise((resolve) => {
      const r: ConnectRunResult = { cpu: ctx.cpu, connects: 0, errors: 0, why: [], tuples: [], remote: 0, ms: 0 };
      const t0 = performance.now();
      let started = 0;
      let inflight = 0;
      let over = false;
      const timer = setTimeout(() => finish(), a.timeoutMs);
      const finish = () => {
        if (over) return;
        over = true;
        clearTimeout(timer);
        r.ms = performance.now() - t0;
        r.errors += a.count - r.connects - r.errors; // never answered
        resolve(r);
      };
      const next = () => {
        if (over) return;
        while (inflight < a.window && started < a.count) {
          const port = a.ports[started % a.ports.length];
          started++;
          inflight++;
          let done = false;
          const fd = s.socket((f, ev, err) => {
            if (done || (ev !== SoEvent.CONNECTED && ev !== SoEvent.ERROR)) return;
            done = true;
            inflight--;
            if (ev === SoEvent.CONNECTED) {
              const i = s.info(f);
              r.connects++;
              if (i.cpu !== ctx.cpu) r.remote++;
              r.tuples.push(`${i.laddr >>> 0}:${i.lport}:${i.faddr >>> 0}:${i.fport}`);
            } else {
              r.errors++;
              if (r.why.length < 5) r.why.push(String(err));
            }
            if (r.connects + r.errors === a.count) finish();
            else queueMicrotask(next);
          });
          try {
            s.connect(fd, a.faddr, port);
          } catch (err) {
            done = true;
            inflight--;
            r.errors++;
            if (r.why.length < 5) r.why.push((err as Error).message);
            s.close(fd);
          }
        }
        if (r.connects + r.errors === a.count) finish();
      };
      next();
    });
  return {
    call: (method, args) => {
      if (method === "run") return run(args[0] as ConnectRunArgs);
      throw new Error(`bench connect: no method ${method}`);
    },
    stop: () => s.shutdownAll(),
  };
}
