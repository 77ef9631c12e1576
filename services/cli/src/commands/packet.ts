/**
 * `dfly nic` and `dfly netisr`: the packet-path services as processes (the single image
 * runs `dfly <service>`). Environment per the service configuration contract; flags
 * override it.
 */
import { parseArgs } from "node:util";
import { main as netisrMain, netisrConfigFromEnv } from "@dfly/netisr";
import { main as nicMain, nicConfigFromEnv } from "@dfly/nic";
import { UsageError, type CliIO, type Command } from "../command.js";

type Flags = Record<string, { type: "string" }>;

function envWith(argv: string[], flags: Record<string, string>): NodeJS.ProcessEnv {
  let values: Record<string, string | boolean | undefined>;
  try {
    const opts: Flags = Object.fromEntries(Object.keys(flags).map((k) => [k, { type: "string" as const }]));
    values = parseArgs({ args: argv, options: opts, allowPositionals: false, strict: true }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const env = { ...process.env };
  for (const [flag, name] of Object.entries(flags)) {
    const v = values[flag];
    if (typeof v === "string") env[name] = v;
  }
  return env;
}

export const nicCommand: Command = {
  path: ["nic"],
  summary: "run the emulated NIC(s): wire-in → RSS → RX ring subjects, TX rings → wire-out, /metrics",
  usage:
    "dfly nic [--ifname ix0[,ix1...]] [--model 82599|82576|x550|...] [--mode interrupt|polling] [--rings R] [--pollhz HZ]\n" +
    "         [--addrs ix0=A.B.C.D/LEN,...] [--loss P] [--reorder P] [--dup P] [--delay-ms MS] [--nats URL] [--control HOST:PORT]\n" +
    "         [--metrics-port N] [--cluster NAME] [--wire ix0=tun:dfly0] [--tun-addr A.B.C.D/LEN] [--pcap FILE]\n" +
    "  env: DFLY_IFNAME DFLY_NIC_MODEL DFLY_NIC_MODE DFLY_NIC_RINGS DFLY_POLLHZ DFLY_NIC_ADDRS DFLY_NATS_URL DFLY_CONTROL_ADDR\n" +
    "       DFLY_METRICS_PORT (9462) DFLY_CLUSTER DFLY_NIC_WIRE DFLY_NIC_TUN_ADDR DFLY_NIC_PCAP",
  async run(argv: string[], io: CliIO): Promise<number> {
    const env = envWith(argv, {
      ifname: "DFLY_IFNAME",
      model: "DFLY_NIC_MODEL",
      mode: "DFLY_NIC_MODE",
      rings: "DFLY_NIC_RINGS",
      pollhz: "DFLY_POLLHZ",
      addrs: "DFLY_NIC_ADDRS",
      loss: "DFLY_NIC_LOSS",
      reorder: "DFLY_NIC_REORDER",
      dup: "DFLY_NIC_DUP",
      wire: "DFLY_NIC_WIRE",
      "tun-addr": "DFLY_NIC_TUN_ADDR",
      pcap: "DFLY_NIC_PCAP",
      "delay-ms": "DFLY_NIC_DELAY_MS",
      nats: "DFLY_NATS_URL",
      control: "DFLY_CONTROL_ADDR",
      "metrics-port": "DFLY_METRICS_PORT",
      cluster: "DFLY_CLUSTER",
    });
    let cfg;
    try {
      cfg = nicConfigFromEnv(env);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (cfg.natsUrl === undefined) throw new UsageError("a NIC process needs NATS (--nats URL or DFLY_NATS_URL); embedded mode runs it in-process: dfly run");
    await nicMain(cfg, (s) => io.stderr(s + "\n"));
    return 0;
  },
};

export const netisrCommand: Command = {
  path: ["netisr"],
  summary: "run one netisr CPU: its RX rings and port, IPv4 input/forwarding, control agent, /metrics",
  usage:
    "dfly netisr [--cpu N] [--nats URL] [--control HOST:PORT] [--metrics-port N] [--pollhz HZ] [--cluster NAME]\n" +
    "  env: DFLY_CPU (else POD_NAME's ordinal) DFLY_NATS_URL DFLY_CONTROL_ADDR DFLY_METRICS_PORT (9464+cpu) DFLY_POLLHZ\n" +
    "       DFLY_IFPOLL_BURST_MAX DFLY_IFPOLL_EACH_BURST DFLY_RXD DFLY_ICMPLIM DFLY_CLUSTER\n" +
    "       DFLY_DRAIN_MS (hand-over bound on SIGTERM) DFLY_DRAIN_LINGER_MS (keep /metrics up after the drain, default 20000;\n" +
    "       a second SIGTERM ends it)",
  async run(argv: string[], io: CliIO): Promise<number> {
    const env = envWith(argv, {
      cpu: "DFLY_CPU",
      nats: "DFLY_NATS_URL",
      control: "DFLY_CONTROL_ADDR",
      "metrics-port": "DFLY_METRICS_PORT",
      pollhz: "DFLY_POLLHZ",
      cluster: "DFLY_CLUSTER",
    });
    let cfg;
    try {
      cfg = netisrConfigFromEnv(env);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (cfg.natsUrl === undefined) throw new UsageError("a netisr process needs NATS (--nats URL or DFLY_NATS_URL); embedded mode runs CPUs as threads: dfly run");
    await netisrMain(cfg, (s) => io.stderr(s + "\n"));
    return 0;
  },
};

export const packetCommands: Command[] = [netisrCommand, nicCommand];
