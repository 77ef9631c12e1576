// The ipfw hooks of one netisr CPU (DragonFly's pfil hooks into ipfw_chk from ip_input and ip_output): the replicated rule
// chain, this CPU's own state table, the coarse clock and the RST that `reset` answers with. Inactive (one branch) without rules.
import {
  inCksum,
  inCksumPseudo,
  IpfwChain,
  IpfwDir,
  IpfwRuleset,
  IpfwStateTable,
  ipfwStateKey,
  IPFW_PASS,
  IPFW_RESET,
  type IpfwRulesetSpec,
  type IpfwStateRecord,
} from "@dfly/core";
import type { Netisr } from "./netisr.js";

/** Default most states per CPU (net.inet.ip.fw.dyn_max). */
export const IPFW_STATE_MAX_DEFAULT = 65536;

export interface IpfwHookOptions {
  /** Most states on this CPU. */
  stateMax?: number;
  /** One table shared by every CPU's thread (the benchmark's comparison only). */
  sharedStates?: SharedArrayBuffer;
  defaultDeny?: boolean;
}

export class IpfwHook {
  readonly chain: IpfwChain;
  /** Revision of the installed rule set (control's replication order). */
  revision = 0;
  /** True when a packet's TCP connection lives on another CPU (a live rescale): it goes on to its home, which holds its state. */
  elsewhere: ((buf: Uint8Array, off: number, hlen: number) => boolean) | undefined = undefined;
  private epoch = -1;
  private readonly rst = new Uint8Array(40);

  constructor(
    private readonly ni: Netisr,
    o: IpfwHookOptions = {},
  ) {
    const max = o.stateMax ?? IPFW_STATE_MAX_DEFAULT;
    const states = new IpfwStateTable({ max, ...(o.sharedStates ? { shared: o.sharedStates } : {}) });
    this.chain = new IpfwChain({ states, ...(o.defaultDeny ? { defaultDeny: true } : {}) });
    this.chain.now = Math.floor(performance.now() / 1000);
  }

  get digest(): string {
    return this.chain.ruleset.digest;
  }

  /** Installs a rule set received from the control (checked here again: a bus is not a trust boundary). Throws IpfwRuleError. */
  install(spec: IpfwRulesetSpec, revision: number): void {
    const rs = IpfwRuleset.build(spec);
    this.chain.install(rs, (n) => this.ni.ifindex(n));
    this.revision = Math.max(this.revision, revision);
  }

  /** The interface addresses and indexes follow the netisr's topology. */
  private refresh(): void {
    this.epoch = this.ni.epoch;
    const me: number[] = [];
    for (const i of this.ni.interfaces) me.push(...i.addrs);
    this.chain.me = Uint32Array.from(me);
    this.chain.bindInterfaces((n) => this.ni.ifindex(n));
  }

  /** ip_input's hook: true when the packet goes on. */
  input(buf: Uint8Array, off: number, hlen: number, iplen: number, rcvif: number): boolean {
    if (!this.chain.active) return true;
    if (this.ni.epoch !== this.epoch) this.refresh();
    if (this.elsewhere !== undefined && this.elsewhere(buf, off, hlen)) return true;
    const v = this.chain.chk(buf, off, hlen, iplen, IpfwDir.in, rcvif, -1);
    if (v === IPFW_PASS) return true;
    if (v === IPFW_RESET && rcvif >= 0) this.reset(buf, off, hlen, iplen, rcvif);
    return false;
  }

  /** ip_output's hook on a forwarded packet leaving on `oif`: true when it goes on. */
  output(buf: Uint8Array, off: number, hlen: number, iplen: number, rcvif: number, oif: number): boolean {
    if (!this.chain.active) return true;
    if (this.ni.epoch !== this.epoch) this.refresh();
    const v = this.chain.chk(buf, off, hlen, iplen, IpfwDir.out, rcvif, oif);
    if (v === IPFW_PASS) return true;
    if (v === IPFW_RESET && rcvif >= 0) this.reset(buf, off, hlen, iplen, rcvif);
    return false;
  }

  /** The clock tick (ipfw_tick): seconds, and a slice of the expiry walk. */
  tick(budget?: number): number {
    return this.chain.tick(Math.floor(performance.now() / 1000), budget);
  }

  /** Makes `n` UDP states of made-up flows (198.18.0.0/15 sources, distinct per `cpu`) as if created now: a loaded table. */
  prefill(n: number, cpu: number): number {
    const k = new Int32Array(4);
    // Made by the keep-state rule, so installing the same set elsewhere (a shared table) keeps them.
    const rule = this.chain.ruleset.rules.find((r) => r.keepState)?.num ?? 1;
    let made = 0;
    for (let i = 0; i < n; i++) {
      const src = (0xc6120000 + ((cpu * n + i) >>> 8)) >>> 0;
      ipfwStateKey(k, src, 0x0a0000fe, 1024 + ((cpu * n + i) & 0xff), 80);
      // An established TCP state (SYN both ways: ipfw's ack lifetime, 300 s), so the table stays full for the run.
      if (!this.chain.states.insert(k, 6, 0x02, rule, src | 0, false, this.chain.now)) break;
      k[3] ^= 1;
      this.chain.states.lookup(k, 6, 0x12, this.chain.now);
      made++;
    }
    return made;
  }

  /** States of the flows `pick` names, removed for a hand-over to their new CPU. */
  takeStates(pick: (a: number, b: number, ports: number, proto: number) => boolean): IpfwStateRecord[] {
    return this.chain.states.take(pick, this.chain.now);
  }

  /** States handed over by a leaving CPU; returns how many fit. */
  putStates(list: readonly IpfwStateRecord[]): number {
    let n = 0;
    for (const r of list) if (this.chain.states.put(r, this.chain.now)) n++;
    return n;
  }

  /**
   * `send_reject(RST)`: a RST for the TCP segment at `buf[off…]`, back out of the interface it came in on (RFC 793's
   * reset generation: ACK set → seq = its ack; else seq 0, ack = its seq + length).
   */
  private reset(buf: Uint8Array, off: number, hlen: number, iplen: number, ifx: number): void {
    const r = this.rst;
    const t = off + hlen;
    const fl = buf[t + 13];
    const seq = ((buf[t + 4] << 24) | (buf[t + 5] << 16) | (buf[t + 6] << 8) | buf[t + 7]) >>> 0;
    const ack = ((buf[t + 8] << 24) | (buf[t + 9] << 16) | (buf[t + 10] << 8) | buf[t + 11]) >>> 0;
    const thoff = (buf[t + 12] >>> 4) << 2;
    const dlen = iplen - hlen - thoff + (fl & 0x02 ? 1 : 0) + (fl & 0x01 ? 1 : 0);
    r.fill(0);
    r[0] = 0x45;
    r[3] = 40;
    r[8] = 64;
    r[9] = 6;
    r.set(buf.subarray(off + 16, off + 20), 12);
    r.set(buf.subarray(off + 12, off + 16), 16);
    r[20] = buf[t + 2];
    r[21] = buf[t + 3];
    r[22] = buf[t];
    r[23] = buf[t + 1];
    const w32 = (at: number, v: number) => {
      r[at] = v >>> 24;
      r[at + 1] = v >>> 16;
      r[at + 2] = v >>> 8;
      r[at + 3] = v;
    };
    if (fl & 0x10) {
      w32(24, ack);
      r[33] = 0x04;
    } else {
      w32(28, (seq + dlen) >>> 0);
      r[33] = 0x14;
    }
    r[32] = 5 << 4;
    const ck = inCksum(r, 0, 20);
    r[10] = ck >>> 8;
    r[11] = ck;
    const src = ((r[12] << 24) | (r[13] << 16) | (r[14] << 8) | r[15]) >>> 0;
    const dst = ((r[16] << 24) | (r[17] << 16) | (r[18] << 8) | r[19]) >>> 0;
    const tck = inCksumPseudo(r, 20, 20, src, dst, 6);
    r[36] = tck >>> 8;
    r[37] = tck;
    this.ni.tx.copy(ifx, r, 0, 40, 0);
  }
}
