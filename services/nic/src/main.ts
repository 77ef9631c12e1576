/**
 * `dfly nic`: the emulated NIC(s) as a process. Configuration from the environment (the
 * service configuration contract), flags override:
 *
 *   DFLY_IFNAME (default ix0; a comma list emulates several interfaces, units from the
 *   names) · DFLY_NIC_MODEL (default 82599) · DFLY_NIC_RINGS (default: all the mode can use) ·
 *   DFLY_NIC_MODE (interrupt|polling, default interrupt) · DFLY_POLLHZ (6000) ·
 *   DFLY_NIC_ADDRS (`ix0=198.18.0.1/24,ix1=198.18.1.1/24`; default 198.18.<unit>.1/24) ·
 *   DFLY_NIC_MODERATION_FRAMES (256) · DFLY_NIC_LOSS / DFLY_NIC_REORDER / DFLY_NIC_DUP (probabilities,
 *   wire impairments, default 0) · DFLY_NIC_WIRE (`ix0=tun:dfly0`: the wire is a TUN device;
 *   DFLY_NIC_TUN_ADDR its Linux address, default 198.18.0.2/24; DFLY_NIC_PCAP a capture of it) · DFLY_NIC_DELAY_MS (0) · DFLY_CLUSTER · DFLY_NATS_URL · DFLY_KV_REPLICAS · DFLY_CONTROL_ADDR ·
 *   DFLY_METRICS_PORT (9462) · DFLY_METRICS_HOST (127.0.0.1; the chart sets the pod address).
 */
import { DEFAULT_CONTROL_ADDR } from "@dfly/control";
import { type InterfaceSpecT } from "@dfly/wire";
import { envInt, runService, serviceBaseFromEnv, type ServiceBaseConfig } from "@dfly/service";
import { createTransport, type Transport } from "@dfly/transport";
import { startNic, type NicHandle } from "./device.js";
import { checkImpair, ImpairConfigError, type ImpairConfig } from "./impair.js";
import { nicInterfaceSpec } from "./ifnet.js";
import { parseWireSpecs, WireSpecError, type TunWireSpec } from "./tunwire.js";
import { DEFAULT_NIC_MODEL, NicMode, parseNicMode } from "./models.js";

export interface NicProcessConfig extends ServiceBaseConfig {
  controlAddr: string;
  metricsPort: number;
  metricsHost: string;
  specs: InterfaceSpecT[];
  moderationFrames: number;
  impair: ImpairConfig;
  /** Interfaces wired to a TUN device (DFLY_NIC_WIRE). */
  wires: Map<string, TunWireSpec>;
}

export class NicEnvError extends Error {
  override readonly name = "NicEnvError";
}

const int = (name: string, v: string | undefined, dflt: number, min: number, max: number) => envInt(name, v, dflt, min, max, NicEnvError);

/** `ix0=198.18.0.1/24,ix0=10.0.0.1/8,ix1=…` → addresses by interface. */
export function parseIfAddrs(s: string | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!s) return out;
  for (const part of s.split(",").map((x) => x.trim()).filter(Boolean)) {
    const m = /^([A-Za-z][A-Za-z0-9_.-]{0,14})=(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\/\d{1,2})$/.exec(part);
    if (!m) throw new NicEnvError(`DFLY_NIC_ADDRS entry "${part}" is not ifname=a.b.c.d/len`);
    out.set(m[1], [...(out.get(m[1]) ?? []), m[2]]);
  }
  return out;
}

function impairFromEnv(env: NodeJS.ProcessEnv): ImpairConfig {
  const num = (name: string) => {
    const v = env[name];
    if (v === undefined || v === "") return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new NicEnvError(`${name}=${v} is not a number`);
    return n;
  };
  const c: ImpairConfig = {};
  const loss = num("DFLY_NIC_LOSS");
  const reorder = num("DFLY_NIC_REORDER");
  const delayMs = num("DFLY_NIC_DELAY_MS");
  const dup = num("DFLY_NIC_DUP");
  if (dup !== undefined) c.dup = dup;
  if (loss !== undefined) c.loss = loss;
  if (reorder !== undefined) c.reorder = reorder;
  if (delayMs !== undefined) c.delayMs = delayMs;
  try {
    checkImpair(c);
  } catch (err) {
    if (err instanceof ImpairConfigError) throw new NicEnvError(err.message);
    throw err;
  }
  return c;
}

function wiresFromEnv(env: NodeJS.ProcessEnv, names: string[]): Map<string, TunWireSpec> {
  let wires: Map<string, TunWireSpec>;
  try {
    wires = parseWireSpecs(env.DFLY_NIC_WIRE);
  } catch (err) {
    if (err instanceof WireSpecError) throw new NicEnvError(`DFLY_NIC_WIRE: ${err.message}`);
    throw err;
  }
  for (const [ifname, w] of wires) {
    if (!names.includes(ifname)) throw new NicEnvError(`DFLY_NIC_WIRE: ${ifname} is not one of DFLY_IFNAME (${names.join(",")})`);
    if (env.DFLY_NIC_TUN_ADDR) w.addr = env.DFLY_NIC_TUN_ADDR;
    if (env.DFLY_NIC_PCAP) w.pcap = wires.size > 1 ? `${env.DFLY_NIC_PCAP}.${ifname}` : env.DFLY_NIC_PCAP;
  }
  return wires;
}

export function nicConfigFromEnv(env: NodeJS.ProcessEnv = process.env): NicProcessConfig {
  const names = (env.DFLY_IFNAME || "ix0").split(",").map((s) => s.trim()).filter(Boolean);
  let mode: NicMode;
  try {
    mode = parseNicMode(env.DFLY_NIC_MODE || NicMode.interrupt);
  } catch (err) {
    throw new NicEnvError(`DFLY_NIC_MODE: ${(err as Error).message}`);
  }
  const rings = int("DFLY_NIC_RINGS", env.DFLY_NIC_RINGS, 0, 0, 1024);
  const pollhz = int("DFLY_POLLHZ", env.DFLY_POLLHZ, 6000, 1, 30000);
  const addrs = parseIfAddrs(env.DFLY_NIC_ADDRS);
  const specs = names.map((ifname) =>
    nicInterfaceSpec({
      ifname,
      model: env.DFLY_NIC_MODEL || DEFAULT_NIC_MODEL,
      mode,
      rings,
      pollhz,
      ...(addrs.has(ifname) ? { addresses: addrs.get(ifname) } : {}),
    }),
  );
  return {
    ...serviceBaseFromEnv(env, NicEnvError),
    controlAddr: env.DFLY_CONTROL_ADDR || DEFAULT_CONTROL_ADDR,
    metricsPort: int("DFLY_METRICS_PORT", env.DFLY_METRICS_PORT, 9462, 0, 65535),
    metricsHost: env.DFLY_METRICS_HOST || "127.0.0.1",
    specs,
    moderationFrames: int("DFLY_NIC_MODERATION_FRAMES", env.DFLY_NIC_MODERATION_FRAMES, 256, 1, 16384),
    impair: impairFromEnv(env),
    wires: wiresFromEnv(env, names),
  };
}

/** Runs the NIC until SIGTERM/SIGINT. */
export async function main(cfg: NicProcessConfig = nicConfigFromEnv(), log: (s: string) => void = (s) => console.error(s)): Promise<void> {
  await runService<Transport, NicHandle>({
    base: cfg,
    connect: createTransport,
    connName: "dfly-nic",
    start: (transport) =>
      startNic({
        transport,
        cluster: cfg.cluster,
        specs: cfg.specs,
        controlAddr: cfg.controlAddr,
        metricsPort: cfg.metricsPort,
        metricsHost: cfg.metricsHost,
        moderation: { frames: cfg.moderationFrames },
        impair: cfg.impair,
        wires: cfg.wires,
        log,
      }),
    started: (h, transport) => {
      const ifs = cfg.specs.map((s) => `${s.ifname} (${s.model}, ${s.mode}, ${s.rings} rings)`).join(", ");
      log(`dfly nic: ${ifs}; metrics ${h.metricsAddr ?? "off"}, control ${cfg.controlAddr}, transport ${transport.kind}, cluster ${cfg.cluster}`);
    },
    stopping: (sig) => log(`dfly nic: ${sig}, stopping`),
    stop: (h) => h.stop(),
  });
  log("dfly nic: stopped");
}
