/**
 * A Linux TUN device as an interface's wire: the link partner is the Linux kernel of the
 * network namespace the process runs in.
 *
 * Node has no TUNSETIFF ioctl, so the device is opened by Debian's `socat` (made for exactly
 * this I/O, no native addon to build): `TUN:<addr>,tun-name=<name>,tun-type=tun,iff-no-pi,iff-up`
 * bridged to `UDP-DATAGRAM` on 127.0.0.1. socat reads one packet per read(2) and sends it as
 * one datagram, and writes each datagram it receives as one packet, so packet boundaries
 * survive. The device is not persistent: it disappears when socat exits (it is started with
 * `setpriv --pdeathsig SIGTERM`, so it also goes when this process dies).
 *
 * Datagrams that arrive in one event-loop turn (one burst read from the device) become one
 * frame batch, in arrival order. Packets that are not IPv4, empty or larger than `maxFrame`
 * are counted by reason and dropped.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { FrameBatchCursor, FrameBatchWriter } from "@dfly/transport";

/** Reasons a packet read from the device is dropped (NicDrop has the same names). */
export const TunDrop = { runt: "runt", notipv4: "notipv4", oversize: "oversize" } as const;
export type TunDropReason = (typeof TunDrop)[keyof typeof TunDrop];

export class TunError extends Error {
  override readonly name = "TunError";
  constructor(
    readonly device: string,
    why: string,
    opts?: { cause?: unknown },
  ) {
    super(`tun ${device}: ${why}`, opts);
  }
}

export interface TunOptions {
  /** Device name (Linux: at most 15 characters). */
  name: string;
  /** The Linux side's address, a.b.c.d/len (default 198.18.0.2/24). */
  addr?: string;
  /** Largest packet accepted from the device (default 9000). */
  maxFrame?: number;
  /** One frame batch per burst read from the device (the buffer is handed over). */
  onBatch: (batch: Uint8Array) => void;
  onDrop?: (reason: TunDropReason) => void;
  /** Every packet that crosses the device (`out`: toward Linux). */
  tap?: (packet: Uint8Array, out: boolean) => void;
  /** Where socat logs go (default: dropped once started). */
  log?: (s: string) => void;
}

export const TUN_ADDR_DEFAULT = "198.18.0.2/24";
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
const ADDR_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

export function checkTunName(name: string): void {
  if (!NAME_RE.test(name)) throw new TunError(name, "not a valid interface name (1..15 characters of A-Za-z0-9_.-)");
}

export function checkTunAddr(name: string, addr: string): void {
  const m = ADDR_RE.exec(addr);
  if (!m || m.slice(1, 5).some((x) => Number(x) > 255) || Number(m[5]) > 32) throw new TunError(name, `--tun-addr ${addr} is not a.b.c.d/len`);
}

function linkExists(name: string): boolean {
  const r = spawnSync("ip", ["-o", "link", "show", "dev", name], { stdio: "ignore" });
  if (r.error) throw new TunError(name, `cannot run ip(8): ${r.error.message} (install iproute2: scripts/setup-machine.sh)`);
  return r.status === 0;
}

export class TunDevice {
  private readonly writer = new FrameBatchWriter();
  private readonly cursor = new FrameBatchCursor();
  private pending: NodeJS.Immediate | undefined;
  private closed = false;
  /** Packets read from / written to the device. */
  rxPackets = 0;
  txPackets = 0;

  private constructor(
    readonly name: string,
    private readonly sock: Socket,
    private readonly socatPort: number,
    private readonly socat: ChildProcess,
    private readonly o: TunOptions,
  ) {
    const max = o.maxFrame ?? 9000;
    // A send that fails (ENOBUFS under a burst) is a lost packet, as on a real link; TCP repairs it.
    sock.on("error", (err) => o.log?.(`tun ${name}: ${err.message}`));
    socat.once("exit", (code, sig) => {
      if (!this.closed) o.log?.(`tun ${name}: socat exited (${code ?? sig}); the device is gone`);
    });
    sock.on("message", (p: Buffer) => {
      if (this.closed) return;
      if (p.length === 0) return o.onDrop?.(TunDrop.runt);
      if (p[0] >> 4 !== 4) return o.onDrop?.(TunDrop.notipv4);
      if (p.length > max) return o.onDrop?.(TunDrop.oversize);
      this.rxPackets++;
      o.tap?.(p, false);
      if (!this.writer.append(p, 0)) {
        this.flush();
        this.writer.append(p, 0);
      }
      this.pending ??= setImmediate(() => this.flush());
    });
  }

  /** Creates the device (through socat) and resolves once packets flow; TunError when it cannot. */
  static async open(o: TunOptions): Promise<TunDevice> {
    const name = o.name;
    const addr = o.addr ?? TUN_ADDR_DEFAULT;
    checkTunName(name);
    checkTunAddr(name, addr);
    if (linkExists(name)) throw new TunError(name, "an interface of that name already exists");
    const sock = createSocket({ type: "udp4", recvBufferSize: 1 << 22, sendBufferSize: 1 << 22 });
    await new Promise<void>((res, rej) => {
      sock.once("error", rej);
      sock.bind(0, "127.0.0.1", () => {
        sock.off("error", rej);
        res();
      });
    });
    const myPort = sock.address().port;
    // socat's side: a free port picked by binding and releasing it.
    const probe = createSocket("udp4");
    const socatPort = await new Promise<number>((res) => probe.bind(0, "127.0.0.1", () => res(probe.address().port)));
    await new Promise<void>((res) => probe.close(() => res()));
    const args = [
      "--pdeathsig", "SIGTERM", "--",
      "socat", "-d", "-d", "-b", "65536",
      `TUN:${addr},tun-name=${name},tun-type=tun,iff-no-pi,iff-up`,
      `UDP-DATAGRAM:127.0.0.1:${myPort},bind=127.0.0.1:${socatPort},so-rcvbuf=4194304,so-sndbuf=4194304`,
    ];
    const child = spawn("setpriv", args, { stdio: ["ignore", "ignore", "pipe"] });
    const errs: string[] = [];
    try {
      await new Promise<void>((res, rej) => {
        let buf = "";
        const onData = (d: Buffer) => {
          buf += d.toString();
          let i: number;
          while ((i = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (/ [EF] /.test(line)) errs.push(line.replace(/^.*socat\[\d+\] [EF] /, ""));
            if (line.includes("starting data transfer loop")) {
              child.stderr!.off("data", onData);
              // Afterwards only socat's errors and warnings are worth a line.
              child.stderr!.on("data", (x: Buffer) => {
                for (const l of x.toString().split("\n")) if (/ [EFW] /.test(l)) o.log?.(`tun ${name}: ${l.replace(/^.*socat\[\d+\] /, "socat ")}`);
              });
              res();
            }
          }
        };
        child.stderr!.on("data", onData);
        child.once("error", (err) => rej(new TunError(name, `cannot start socat: ${err.message}`, { cause: err })));
        child.once("exit", (code) => {
          const why = errs.join("; ") || `socat exited (${code})`;
          const hint = /not permitted|permission denied/i.test(why) ? " (needs CAP_NET_ADMIN: run as root, under ip netns exec)" : "";
          const missing = code === 127 || /No such file|not found/i.test(why) ? " (is socat installed? scripts/setup-machine.sh installs it)" : "";
          rej(new TunError(name, `cannot open: ${why}${hint}${missing}`));
        });
      });
    } catch (err) {
      sock.close();
      child.kill("SIGTERM");
      throw err;
    }
    child.removeAllListeners("exit");
    return new TunDevice(name, sock, socatPort, child, o);
  }

  private flush(): void {
    if (this.pending) clearImmediate(this.pending);
    this.pending = undefined;
    if (this.writer.count === 0) return;
    const out = this.writer.finish().slice();
    this.writer.reset();
    this.o.onBatch(out);
  }

  /** Writes every frame of a batch to the device, in order. */
  sendBatch(batch: Uint8Array): void {
    if (this.closed) return;
    const c = this.cursor;
    if (c.reset(batch) !== null) return;
    while (c.next()) {
      const p = c.buf.subarray(c.offset, c.offset + c.length);
      this.txPackets++;
      this.o.tap?.(p, true);
      this.sock.send(p, this.socatPort, "127.0.0.1");
    }
  }

  /** Stops socat (the device goes with it) and closes the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    const gone = this.socat.exitCode !== null || this.socat.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((res) => this.socat.once("exit", () => res()));
    this.socat.stderr?.removeAllListeners("data"); // its "exiting on signal" is expected
    this.socat.stderr?.resume();
    this.socat.kill("SIGTERM");
    const t = setTimeout(() => this.socat.kill("SIGKILL"), 2000);
    await gone;
    clearTimeout(t);
    await new Promise<void>((res) => this.sock.close(() => res()));
  }
}
