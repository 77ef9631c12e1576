/**
 * `dfly load http-short`: the emulated HTTP client host (apps' HttpClientHost, as `dfly run
 * --workload http-short` wires it) on a running cluster's ix0 wire over NATS, against an httpd the
 * cluster serves on 198.18.0.1:80. `dfly up`, `make up` and the chart run no server of their own,
 * so by default the command starts one: an httpd worker per live CPU in this process, each socket
 * call a netmsg to its CPU's port and each listener an SO_REUSEPORT member opened through the
 * control's SocketService (the `--httpd remote` arrangement of `dfly run`); they are closed when
 * the load ends (or is interrupted). `--httpd none`: the cluster already serves port 80.
 * It needs ix0's connected route (198.18.0.0/24 dev ix0; `dfly up` adds it) and adds it if absent.
 */
import { HTTP_SERVER_ADDR, HTTP_SHORT_TCP, HttpClientHost, HttpdWorker, clientSnapshot, httpClientAddrs, latencyFromSnapshot } from "@dfly/apps";
import { parseRouteAddress } from "@dfly/core";
import { attachSockEvents, ControlListenBackend, PortSockRemote, Sockets, TcpHost } from "@dfly/netisr";
import { subjects, type Subscription } from "@dfly/transport";
import type { CliIO, Command } from "../command.js";
import { parseFlags } from "../flags.js";
import { connectTarget, controlOf, durationArg, intArg, LoadArgError, LoadInterrupt, Progress, resolveTarget, targetFlags, wantsTextProgress } from "../load/target.js";

export interface LoadSummary {
  event: "done";
  workload: "http-short";
  clients: number;
  durationMs: number;
  completed: number;
  tps: number;
  errors: Record<string, number>;
  errorCount: number;
  unfinished: number;
  latency: { avgMs: number; p50Ms: number; p99Ms: number; maxMs: number };
  /** What the httpd workers this command started did (none with --httpd none). */
  httpd: { workers: number; accepted: number; requests: number; responses: number; errors: number } | null;
  interrupted: boolean;
}

export const loadCommand: Command = {
  path: ["load"],
  summary: "HTTP load into a running cluster: emulated short-connection clients on ix0's wire (starts an httpd on the cluster)",
  usage:
    "dfly load http-short [--clients C] [--client-cpus N] [--duration D] [--count N] [--httpd start|none]\n" +
    "                     [--nats URL] [--cluster NAME] [--control HOST:PORT] [--json] [--progress]\n" +
    "  C concurrent clients (default 8) from 198.18.0.10.. on ix0's wire, one GET per connection to 198.18.0.1:80,\n" +
    "  for --duration (default 10s, at most 1h) or until --count responses. --httpd start (default): an httpd\n" +
    "  worker per live CPU, listening through the control, closed at the end; none: the cluster serves port 80.\n" +
    "  NATS, cluster and control: the flags, else DFLY_NATS_URL/DFLY_CLUSTER/DFLY_CONTROL_ADDR, else the dfly up context.",
  async run(argv: string[], io: CliIO): Promise<number> {
    const [kind, ...rest] = argv;
    if (kind !== "http-short") throw new LoadArgError(`load kind ${kind === undefined ? "(none)" : `"${kind}"`}: want http-short (forwarding load: dfly pktgen; captures: dfly replay)`);
    const v = parseFlags(rest, {
      ...targetFlags,
      control: { type: "string" },
      clients: { type: "string" },
      "client-cpus": { type: "string" },
      duration: { type: "string" },
      count: { type: "string" },
      httpd: { type: "string" },
    });
    const clients = intArg("clients", v.clients, 1, 4096) ?? 8;
    const clientCpus = intArg("client-cpus", v["client-cpus"], 1, 64) ?? 2;
    const durationMs = durationArg("duration", v.duration) ?? 10_000;
    const count = intArg("count", v.count, 1, 1_000_000_000);
    const httpdMode = v.httpd ?? "start";
    if (httpdMode !== "start" && httpdMode !== "none") throw new LoadArgError(`--httpd ${httpdMode}: want start or none`);
    const target = resolveTarget(v);
    if (!target.controlAddr) throw new LoadArgError("no control to reach: pass --control HOST:PORT, set DFLY_CONTROL_ADDR, or start a stack with dfly up");
    const control = await controlOf(target, "load http-short");
    const subs: Subscription[] = [];
    const workers: HttpdWorker[] = [];
    let conn: Awaited<ReturnType<typeof connectTarget>> | undefined;
    let host: HttpClientHost | undefined;
    let ticker: NodeJS.Timeout | undefined;
    let stopNow: () => void = () => undefined;
    const intr = new LoadInterrupt(() => stopNow());
    const progress = new Progress(io, { label: "load http-short", unit: "tx", json: v.json === true, text: wantsTextProgress(v.progress) }, () => {
      const s = host ? clientSnapshot(host) : undefined;
      return { total: s?.completed ?? 0, started: s?.started ?? 0, errors: s ? Object.values(s.errors).reduce((a, b) => a + b, 0) : 0 };
    });
    try {
      const topo = (await control.getTopology()).topology;
      const live = topo?.cpus ?? [];
      if (live.length === 0) throw new Error(`the cluster at ${target.controlAddr} has no live CPU`);
      const routes = (await control.listRoutes()).routes;
      if (!routes.some((r) => r.prefix === "198.18.0.0/24")) {
        await control.addRoute({ prefix: "198.18.0.0/24", ifname: "ix0" });
        if (!v.json) io.stderr("load: added the route 198.18.0.0/24 dev ix0 (the clients' network)\n");
      }
      conn = await connectTarget(target, "dfly-load");
      const t = conn;
      if (httpdMode === "start") {
        const tcp = new TcpHost({ ncpus: live.length, local: [], output: () => undefined });
        const backend = new ControlListenBackend(control);
        for (let w = 0; w < live.length; w++) {
          const sockets = new Sockets({
            host: tcp,
            cpu: w,
            owner: `dfly-load-${process.pid}-${w}`,
            listen: backend,
            remote: new PortSockRemote(t, target.cluster, (i) => live[i] ?? i),
          });
          subs.push(attachSockEvents(t, target.cluster, sockets));
          workers.push(new HttpdWorker({ sockets }));
        }
        await t.flush();
        for (const w of workers) await w.start();
        if (!v.json) io.stderr(`load: httpd on ${HTTP_SERVER_ADDR}:80: ${workers.length} workers in this process, listening on CPUs ${live.join(",")} through the control\n`);
      }
      const c = new HttpClientHost({
        cpus: clientCpus,
        clients,
        server: parseRouteAddress(HTTP_SERVER_ADDR),
        addrs: httpClientAddrs(16),
        config: HTTP_SHORT_TCP,
        send: (b) => t.publish(subjects.wireIn(target.cluster, "ix0"), b),
      });
      host = c;
      subs.push(t.subscribe(subjects.wireOut(target.cluster, "ix0"), (m) => c.rxBatch(m.data)));
      await t.flush();
      ticker = setInterval(() => c.tick(), 10);
      if (!v.json) io.stderr(`load http-short: ${clients} clients on ${target.cluster}.wire.ix0 via ${target.natsUrl} (${target.from}), for ${durationMs} ms${count !== undefined ? ` or ${count} responses` : ""}\n`);
      progress.start();
      c.start();
      await new Promise<void>((res) => {
        const finish = () => {
          clearTimeout(timer);
          if (poll) clearInterval(poll);
          res();
        };
        const timer = setTimeout(finish, durationMs);
        const poll = count !== undefined ? setInterval(() => c.stats.completed >= count && finish(), 20) : undefined;
        stopNow = finish;
        if (intr.interrupted) finish(); // interrupted while it started
      });
      const ms = progress.elapsedMs();
      progress.stop();
      const drained = await c.stop(intr.interrupted ? 1000 : 5000);
      const cs = clientSnapshot(c);
      // Responses, the ones in flight at the end included (they finished while the clients drained).
      const completed = cs.completed;
      const lat = latencyFromSnapshot(cs.latency).summary();
      const httpd = workers.length
        ? workers.reduce((a, w) => ({ ...a, accepted: a.accepted + w.stats.accepted, requests: a.requests + w.stats.requests, responses: a.responses + w.stats.responses, errors: a.errors + w.stats.errors }), {
            workers: workers.length,
            accepted: 0,
            requests: 0,
            responses: 0,
            errors: 0,
          })
        : null;
      const errorCount = Object.values(cs.errors).reduce((a, b) => a + b, 0);
      const s: LoadSummary = {
        event: "done",
        workload: "http-short",
        clients,
        durationMs: Math.round(ms),
        completed,
        tps: Math.round((completed * 1000) / Math.max(1, ms)),
        errors: cs.errors,
        errorCount,
        unfinished: drained ? 0 : cs.active,
        latency: { avgMs: lat.avgMs, p50Ms: lat.p50Ms, p99Ms: lat.p99Ms, maxMs: lat.maxMs },
        httpd,
        interrupted: intr.interrupted,
      };
      if (v.json) io.stdout(JSON.stringify(s) + "\n");
      else
        io.stdout(
          `load http-short: ${s.completed} responses in ${s.durationMs} ms (${s.tps} tps), errors ${errorCount}${s.unfinished ? `, ${s.unfinished} unfinished` : ""}; ` +
            `latency avg ${s.latency.avgMs} ms p99 ${s.latency.p99Ms} ms${httpd ? `; httpd accepted ${httpd.accepted}, responses ${httpd.responses}` : ""}${intr.interrupted ? " (interrupted)" : ""}\n`,
        );
      return 0;
    } finally {
      progress.stop();
      if (ticker) clearInterval(ticker);
      // Close the listeners this command opened (the control removes them from every CPU).
      for (const w of workers) if (w.listening) await w.closeListener().catch(() => undefined);
      for (const s of subs) s.unsubscribe();
      host?.close();
      await conn?.close();
      control.close();
      intr.end();
    }
  },
};

export const loadCommands: Command[] = [loadCommand];
