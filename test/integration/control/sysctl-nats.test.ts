/**
 * `dfly sysctl` on a running cluster over a real nats-server and real gRPC: a write returns once
 * every live CPU applied it; a read shows a CPU that differs; a CPU that starts later loads the
 * stored values before it is ready; an unknown name or a bad value is one clear error and changes
 * nothing anywhere (not even the good assignments next to it).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startControl, type ControlHandle } from "@dfly/control";
import { nicInterfaceSpec } from "@dfly/nic";
import { startNetisr, type NetisrHandle } from "@dfly/netisr/internal";
import { createTransport, type Transport } from "@dfly/transport";
import { startNatsProcess, type NatsProcess } from "../../support/nats-process.js";
import { runCli } from "../../support/cli.js";

const NAME = "tcpsysctl";
let nats: NatsProcess;
let control: ControlHandle;
const cpus: NetisrHandle[] = [];
const transports: Transport[] = [];

async function conn(who: string): Promise<Transport> {
  const t = await createTransport({ natsUrl: nats.url, name: `${NAME}-${who}` });
  transports.push(t);
  return t;
}

async function addCpu(cpu: number): Promise<NetisrHandle> {
  const h = await startNetisr({ transport: await conn(`cpu${cpu}`), cluster: NAME, cpu, controlAddr: control.grpcAddr });
  await h.whenReady();
  cpus.push(h);
  return h;
}

beforeAll(async () => {
  nats = await startNatsProcess();
  control = await startControl({
    transport: await conn("control"),
    cluster: NAME,
    grpcPort: 0,
    interfaces: [nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt" })],
  });
  await addCpu(0);
  await addCpu(1);
}, 60_000);

afterAll(async () => {
  for (const h of cpus) await h.stop();
  await control?.stop(500);
  for (const t of transports) await t.close();
  await nats?.stop();
});

const sackOf = (h: NetisrHandle) => h.tcp!.tcpConfig().sack;
const mslOf = (h: NetisrHandle) => h.tcp!.tcpConfig().msl;

describe("dfly sysctl over NATS + gRPC", () => {
  it("-w applies on every CPU before it returns; the read shows the value", async () => {
    const w = await runCli("sysctl", "--control", control.grpcAddr, "-w", "net.inet.tcp.sack=0", "net.inet.ip.maxfragpackets=10");
    expect(w.err).toBe("");
    expect(w.code).toBe(0);
    expect(w.out).toBe("net.inet.tcp.sack: 1 -> 0\nnet.inet.ip.maxfragpackets: 256 -> 10\n");
    for (const h of cpus) {
      expect(sackOf(h)).toBe(false);
      expect(h.service.netisr.reass.maxfragpackets).toBe(10);
    }
    const r = await runCli("sysctl", "--control", control.grpcAddr, "net.inet.tcp.sack", "net.inet.ip");
    expect(r.out).toBe("net.inet.ip.forwarding: 1\nnet.inet.ip.maxfragpackets: 10\nnet.inet.ip.maxfragsperpacket: 16\nnet.inet.tcp.sack: 0\n");
  });

  it("a read names a CPU whose value differs", async () => {
    cpus[1].tcp!.setTcpConfig({ sack: true });
    const r = await runCli("sysctl", "--control", control.grpcAddr, "net.inet.tcp.sack");
    expect(r.out).toBe("net.inet.tcp.sack: 0 (differs on cpu 1: 1)\n");
    cpus[1].tcp!.setTcpConfig({ sack: false });
  });

  it("a CPU that starts later has the stored values when it is ready", async () => {
    const h = await addCpu(2);
    expect(sackOf(h)).toBe(false);
    expect(h.service.netisr.reass.maxfragpackets).toBe(10);
    const r = await runCli("sysctl", "--control", control.grpcAddr, "-a", "--json");
    const rows = (JSON.parse(r.out) as { rows: { name: string; value: number; differing: unknown[] }[] }).rows;
    expect(rows.find((x) => x.name === "net.inet.tcp.sack")).toMatchObject({ value: 0, differing: [] });
    expect(rows.every((x) => x.differing.length === 0)).toBe(true);
  });

  it("an unknown name or a bad value: one clear error, exit 1, nothing changed on any CPU", async () => {
    const msl = mslOf(cpus[0]);
    const before = control.parts.sysctl!.list();
    for (const [args, msg] of [
      [["net.inet.tcp.msl=1000", "net.inet.tcp.nosuch=1"], "INVALID_ARGUMENT: unknown oid 'net.inet.tcp.nosuch'\n"],
      [["net.inet.tcp.msl=1000", "net.inet.tcp.sack=2"], "INVALID_ARGUMENT: net.inet.tcp.sack: invalid value '2': want 0 or 1\n"],
      [["net.inet.tcp.msl=1000", "net.inet.tcp.delacktime=x"], "INVALID_ARGUMENT: net.inet.tcp.delacktime: invalid value 'x': want an integer\n"],
    ] as const) {
      const r = await runCli("sysctl", "--control", control.grpcAddr, "-w", ...args);
      expect(r.code).toBe(1);
      expect(r.err).toBe(`dfly sysctl: ${msg}`);
      for (const h of cpus) {
        expect(mslOf(h)).toBe(msl);
        expect(sackOf(h)).toBe(false);
      }
    }
    expect(control.parts.sysctl!.list()).toEqual(before);
    const unknown = await runCli("sysctl", "--control", control.grpcAddr, "net.inet.nosuch");
    expect([unknown.code, unknown.err]).toEqual([1, "dfly sysctl: INVALID_ARGUMENT: unknown oid 'net.inet.nosuch'\n"]);
  });
});
