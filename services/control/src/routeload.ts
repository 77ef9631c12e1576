/**
 * The lines of a bulk load (`dfly route load`): `prefix [gateway]` a line, as the shared prefix file
 * (one prefix a line, CRLF) or a plain `prefix gateway` list; blank lines and `#` comments ignored,
 * IPv6 lines skipped and counted (the table is IPv4). Streamed messages may split a line.
 */
import { parsePrefix, parseRouteAddress, ROUTE_MAX_ROUTES } from "@dfly/core";
import { addressShapeError, type RouteRec } from "@dfly/wire";
import { BadRequestError } from "./errors.js";

export interface LoadDefaults {
  gateway: string;
  ifname: string;
  metric: number;
}

export class RouteLoadParser {
  readonly routes: RouteRec[] = [];
  skippedIpv6 = 0;
  private line = 0;
  private rest = "";
  private gw: number | undefined;
  private readonly dec = new TextDecoder("utf-8", { fatal: true });

  constructor(private readonly d: LoadDefaults) {
    if (d.gateway) {
      const bad = addressShapeError(d.gateway);
      if (bad) throw new BadRequestError("gateway", bad);
      this.gw = parseRouteAddress(d.gateway);
    }
  }

  push(data: Uint8Array): void {
    let text: string;
    try {
      text = this.rest + this.dec.decode(data, { stream: true });
    } catch {
      throw new BadRequestError("lines", `after line ${this.line}: not UTF-8`);
    }
    const lines = text.split("\n");
    this.rest = lines.pop() ?? "";
    if (this.rest.length > 1024) throw new BadRequestError("lines", `line ${this.line + 1}: longer than 1024 characters`);
    for (const l of lines) this.take(l);
  }

  end(): RouteRec[] {
    if (this.rest !== "") this.take(this.rest);
    this.rest = "";
    return this.routes;
  }

  private take(raw: string): void {
    this.line++;
    const l = raw.trim();
    if (l === "" || l[0] === "#") return;
    const sp = l.search(/\s/);
    const f = sp < 0 ? [l] : [l.slice(0, sp), ...l.slice(sp).trim().split(/\s+/)];
    if (f[0].includes(":")) {
      this.skippedIpv6++;
      return;
    }
    if (f.length > 2) throw new BadRequestError("lines", `line ${this.line}: want "prefix [gateway]", got ${f.length} fields`);
    if (this.routes.length >= ROUTE_MAX_ROUTES) throw new BadRequestError("lines", `more than ${ROUTE_MAX_ROUTES} routes`);
    let r: RouteRec;
    try {
      const p = parsePrefix(f[0]);
      r = { addr: p.addr, len: p.len, gateway: f[1] ? parseRouteAddress(f[1]) : this.gw };
    } catch (err) {
      throw new BadRequestError("lines", `line ${this.line}: ${(err as Error).message}`);
    }
    if (!f[1]) {
      if (this.gw === undefined && !this.d.ifname) throw new BadRequestError("lines", `line ${this.line}: no gateway, and no default gateway or interface given`);
      if (this.d.ifname) r.ifname = this.d.ifname;
    }
    if (r.gateway === undefined) delete r.gateway;
    if (this.d.metric) r.metric = this.d.metric;
    this.routes.push(r);
  }
}
