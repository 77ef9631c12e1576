/**
 * `dfly up` / `dfly down`: control, NIC and N netisr CPUs as separate processes on this
 * machine over NATS (a local nats-server -js unless --nats is given); see ../local/up.ts.
 */
import { UsageError, type CliIO, type Command } from "../command.js";
import { writeContext } from "../local/context.js";
import { onInterrupt } from "../local/interrupt.js";
import { down, LocalClusterError, stateDirOf, up } from "../local/up.js";
import { intOpt, parseFlags } from "../flags.js";

export const upCommand: Command = {
  path: ["up"],
  summary: "start control, NIC and N netisr CPUs as processes on this machine (NATS; state in .dfly/)",
  usage:
    "dfly up [--cpus N] [--nats URL] [--state-dir DIR] [--ifname ix0,ix1] [--model M] [--mode interrupt|polling] [--rings R] [--secure] [--json]\n" +
    "  --secure: NATS users per role (only the control may publish routes/topology), a control token and TLS, generated into DIR/secure\n" +
    "  without --nats a local nats-server -js is started; processes log to DIR/logs; stop them with dfly down\n" +
    "  records the context (control, NATS, DIR) in $DFLY_CONTEXT, else $XDG_STATE_HOME/dfly/context.json (~/.local/state/…):\n" +
    "  dfly route/netstat/ifconfig/down use it",
  async run(argv: string[], io: CliIO): Promise<number> {
    const v = parseFlags(argv, {
      cpus: { type: "string" },
      nats: { type: "string" },
      "state-dir": { type: "string" },
      ifname: { type: "string" },
      model: { type: "string" },
      mode: { type: "string" },
      rings: { type: "string" },
      json: { type: "boolean", default: false },
      secure: { type: "boolean", default: false },
    }) as Record<string, string | boolean | undefined>;
    const mode = v.mode as string | undefined;
    if (mode !== undefined && mode !== "interrupt" && mode !== "polling") throw new UsageError(`--mode ${mode}: want interrupt or polling`);
    const nats = v.nats as string | undefined;
    if (nats !== undefined && !/^nats:\/\/[^\s/]+:\d{1,5}$/.test(nats)) throw new UsageError(`--nats ${nats}: want nats://HOST:PORT`);
    // Interrupted while starting: stop what was started so far (afterwards the stack stays up).
    const release = onInterrupt(() => down({ stateDir: stateDirOf(v["state-dir"] as string | undefined) }).then(() => undefined));
    try {
      const st = await up({
        cpus: intOpt("cpus", v.cpus as string | undefined, 1, 64) ?? 2,
        ...(nats ? { natsUrl: nats } : {}),
        ...(v["state-dir"] ? { stateDir: v["state-dir"] as string } : {}),
        ...(v.ifname ? { ifnames: (v.ifname as string).split(",").map((s) => s.trim()).filter(Boolean) } : {}),
        ...(v.model ? { model: v.model as string } : {}),
        ...(mode ? { mode: mode as "interrupt" | "polling" } : {}),
        rings: intOpt("rings", v.rings as string | undefined, 1, 1024),
        ...(v.secure ? { secure: true } : {}),
        log: v.json ? undefined : (s) => io.stderr(`${s}\n`),
      });
      const ctx = writeContext({ controlAddr: st.controlAddr, natsUrl: st.natsUrl, stateDir: stateDirOf(v["state-dir"] as string | undefined), cluster: st.cluster, ...(st.secureDir ? { secureDir: st.secureDir } : {}) });
      if (v.json) io.stdout(JSON.stringify({ ...st, context: ctx }, null, 2) + "\n");
      else {
        io.stdout(`up: ${st.cpus} netisr CPUs, NIC, control ${st.controlAddr}, NATS ${st.natsUrl}\n`);
        for (const p of st.processes) io.stdout(`  ${p.name.padEnd(10)} pid ${String(p.pid).padEnd(8)} ${p.metrics ? `metrics http://${p.metrics}/metrics` : ""}\n`);
        io.stdout(`context ${ctx}: dfly route/netstat/ifconfig/down find this stack there (--control, DFLY_CONTROL_ADDR override it)\n`);
        io.stdout(`export DFLY_CONTROL_ADDR=${st.controlAddr} DFLY_NATS_URL=${st.natsUrl}   # the same, as environment\n`);
      }
      return 0;
    } catch (e) {
      if (e instanceof LocalClusterError) {
        io.stderr(`dfly up: ${e.message}\n`);
        return 1;
      }
      throw e;
    } finally {
      release();
    }
  },
};

export const downCommand: Command = {
  path: ["down"],
  summary: "stop what dfly up started (the pids recorded in its state directory) and remove its context",
  usage: "dfly down [--state-dir DIR]   (default: the current context's, else .dfly)",
  async run(argv: string[], io: CliIO): Promise<number> {
    const v = parseFlags(argv, { "state-dir": { type: "string" } }) as Record<string, string | undefined>;
    const r = await down({ ...(v["state-dir"] ? { stateDir: v["state-dir"] } : {}), log: (s) => io.stderr(`${s}\n`) });
    if (r.stopped.length === 0 && r.gone.length === 0) io.stdout("down: nothing was up\n");
    else io.stdout(`down: stopped ${r.stopped.join(", ") || "nothing"}${r.gone.length ? `; already gone: ${r.gone.join(", ")}` : ""}\n`);
    return 0;
  },
};

export const upCommands: Command[] = [downCommand, upCommand];
