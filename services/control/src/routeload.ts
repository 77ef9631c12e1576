/**
 * The lines of a bulk load (`dfly route load`): `prefix [gateway]` a line, as the shared prefix file
 * (one prefix a line, CRLF) or a plain `prefix gateway` list; blank lines and `#` comments ignored,
 * IPv6 lines skipped and counted (the table is IPv4). Streamed messages may split a line.
 */
import { ROUTE_MAX_ROUTES } from "@dfly/core";
import { addressShapeError, prefixShapeError, type RouteSpec } from "@dfly/wire";
import { BadRequestError } from "./errors.js";

export interface LoadDefaults {
  gateway: string;
  ifname: string;
  metric: number;
}

export class RouteLoadParser {
  readonly routes: RouteSpec[] = [];
  skippedIpv6 = 0;
  private line = 0;
  private rest = "";
  private readonly dec = new TextDecoder("utf-8", { fatal: true });

  constructor(private readonly d: LoadDefaults) {
    if (d.gateway) {
      const bad = addressShapeError(d.gateway);
      if (bad) throw new BadRequestError("gateway", bad);
    }
    if (!d.gateway && !d.ifname) throw new BadRequestError("gateway", "give a default gateway or interface for lines without one");
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

  end(): RouteSpec[] {
    if (this.rest !== "") this.take(this.rest);
    this.rest = "";
    return this.routes;
  }

  private take(raw: string): void {
    this.line++;
    const l = raw.trim();
    if (l === "" || l.startsWith("#")) return;
    const f = l.split(/\s+/);
    if (f[0].includes(":")) {
      this.skippedIpv6++;
      return;
    }
    const bad = prefixShapeError(f[0]) ?? (f.length > 2 ? `want "prefix [gateway]", got ${f.length} fields` : f[1] ? addressShapeError(f[1]) : undefined);
    if (bad) throw new BadRequestError("lines", `line ${this.line}: ${bad}`);
    if (this.routes.length >= ROUTE_MAX_ROUTES) throw new BadRequestError("lines", `more than ${ROUTE_MAX_ROUTES} routes`);
    const r: RouteSpec = { prefix: f[0] };
    if (f[1]) r.gateway = f[1];
    else {
      if (this.d.gateway) r.gateway = this.d.gateway;
      if (this.d.ifname) r.ifname = this.d.ifname;
    }
    if (this.d.metric) r.metric = this.d.metric;
    this.routes.push(r);
  }
}
