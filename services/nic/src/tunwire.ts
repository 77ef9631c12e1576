/**
 * An interface's wire on a TUN device (`dfly nic --wire ix0=tun:dfly0`, `dfly run --tun`):
 * packets Linux sends on the device are published on `<c>.wire.<if>.in` (one frame batch per
 * burst), and what the NIC puts on `<c>.wire.<if>.out` is written to the device. The NIC
 * steers and impairs as on any wire; the inbound direction gets the same impairments (its own
 * seed), so both TCPs see loss, reordering and duplicates. A `pcap` file records what crosses
 * the device, streamed (no size limit held in memory).
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { PcapWriter } from "@dfly/core";
import { frameBatchCount, subjects, type Transport } from "@dfly/transport";
import { Impairment, type ImpairConfig } from "./impair.js";
import { TunDevice, TunError, type TunDropReason } from "./tun.js";

export interface TunWireSpec {
  /** The device name. */
  tun: string;
  /** The Linux side's address (default 198.18.0.2/24). */
  addr?: string;
  /** Capture every packet crossing the device here (pcap, LINKTYPE_RAW). */
  pcap?: string;
}

export class WireSpecError extends Error {
  override readonly name = "WireSpecError";
}

/** `ix0=tun:dfly0[,ix1=tun:dfly1]` (DFLY_NIC_WIRE, `dfly nic --wire`) → specs by interface. */
export function parseWireSpecs(s: string | undefined): Map<string, TunWireSpec> {
  const out = new Map<string, TunWireSpec>();
  if (!s) return out;
  for (const part of s.split(",").map((x) => x.trim()).filter(Boolean)) {
    const m = /^([A-Za-z][A-Za-z0-9_.-]{0,14})=(?:(subjects)|tun:([A-Za-z0-9_][A-Za-z0-9_.-]{0,14}))$/.exec(part);
    if (!m) throw new WireSpecError(`wire "${part}" is not ifname=tun:DEVICE or ifname=subjects`);
    if (m[3]) out.set(m[1], { tun: m[3] });
  }
  return out;
}

/** A streamed pcap file (LINKTYPE_RAW). */
export class PcapFile {
  private readonly w = new PcapWriter();
  private fd: number;
  frames = 0;
  constructor(readonly path: string) {
    this.fd = openSync(path, "w");
    writeSync(this.fd, this.w.header());
  }
  add(p: Uint8Array): void {
    if (this.fd < 0) return;
    writeSync(this.fd, this.w.record(p, (performance.timeOrigin + performance.now()) / 1000));
    this.frames++;
  }
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

export interface TunWireOptions extends TunWireSpec {
  transport: Transport;
  cluster: string;
  ifname: string;
  impair?: ImpairConfig;
  maxFrame?: number;
  drop: (reason: TunDropReason | "impair_loss", n: number) => void;
  log?: (s: string) => void;
}

export interface TunWire {
  readonly device: TunDevice;
  readonly pcap: PcapFile | undefined;
  close(): Promise<void>;
}

export async function startTunWire(o: TunWireOptions): Promise<TunWire> {
  const pcap = o.pcap ? new PcapFile(o.pcap) : undefined;
  const unit = Number(/(\d+)$/.exec(o.ifname)?.[1] ?? 0);
  const imp = o.impair ? new Impairment({ ...o.impair, seed: ((o.impair.seed ?? 1) * 0x2545f491 + unit + 7) >>> 0 }) : undefined;
  const wireIn = subjects.wireIn(o.cluster, o.ifname);
  let dev: TunDevice;
  try {
    dev = await TunDevice.open({
      name: o.tun,
      ...(o.addr ? { addr: o.addr } : {}),
      ...(o.maxFrame !== undefined ? { maxFrame: o.maxFrame } : {}),
      ...(o.log ? { log: o.log } : {}),
      ...(pcap ? { tap: (p: Uint8Array) => pcap.add(p) } : {}),
      onDrop: (r) => o.drop(r, 1),
      onBatch: (b) => {
        if (imp?.active) {
          const r = imp.apply(b);
          if (r.lost > 0) o.drop("impair_loss", r.lost);
          if (frameBatchCount(r.batch) === 0) return;
          b = r.batch;
        }
        o.transport.publish(wireIn, b, { transfer: true });
      },
    });
  } catch (err) {
    pcap?.close();
    throw err;
  }
  const sub = o.transport.subscribe(subjects.wireOut(o.cluster, o.ifname), (m) => dev.sendBatch(m.data));
  return {
    device: dev,
    pcap,
    close: async () => {
      sub.unsubscribe();
      await dev.close();
      pcap?.close();
    },
  };
}

export { TunError };
