/**
 * TCP output (tcp_output.ts): a segment leaves on this CPU's TX ring of the interface its route
 * names — through the gateway's interface for a gateway route — as a frame in the netisr's TX
 * batch (if_tx.ts); a segment with no route out is counted `noroute` and dropped.
 */
import { describe, expect, it } from "vitest";
import { ipAddr, RouteTable, TcpFlags } from "@dfly/core";
import { ifnetTopology, nicInterfaceSpec } from "@dfly/nic";
import { Netisr, TcpOutput } from "@dfly/netisr/internal";
import { routeAttrsOf } from "@dfly/wire";
import { FrameBatchCursor, InprocHub, subjects } from "@dfly/transport";

describe("tcp_output", () => {
  it("sends by the route's interface (a gateway's through its own), counts what has no route", async () => {
    const hub = new InprocHub();
    const t = await hub.connect();
    const routes = new RouteTable();
    routes.add("198.18.0.0/24", routeAttrsOf({ prefix: "198.18.0.0/24", ifname: "ix0" }));
    routes.add("10.0.0.0/8", routeAttrsOf({ prefix: "10.0.0.0/8", gateway: "198.18.0.254" }));
    const spec = nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt" });
    const netisr = new Netisr({ cpu: 0, topology: { epoch: 1, cpus: [0], interfaces: [ifnetTopology(spec, [0])], rssKey: "" }, routes, output: { tx: (ifname, ring, b) => t.publish(subjects.tx("c", ifname, ring), b, { transfer: true }), redispatch: () => undefined } });
    const frames: number[] = [];
    t.subscribe(subjects.tx("c", "ix0", 0), (m) => {
      const c = new FrameBatchCursor();
      if (c.reset(m.data) !== null) return;
      while (c.next()) frames.push(c.length);
    });
    const stats = { noroute: 0 };
    const out = new TcpOutput(netisr, stats);
    const seg = (dst: string) => ({ src: ipAddr("198.18.0.1"), dst: ipAddr(dst), sport: 80, dport: 4000, seq: 1, ack: 0, flags: TcpFlags.SYN, window: 1000, payload: new Uint8Array(10) });
    out.output(seg("198.18.0.9"));
    out.output(seg("10.1.2.3"));
    out.output(seg("192.0.2.1"));
    out.flush();
    await t.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(frames).toEqual([50, 50]);
    expect(stats.noroute).toBe(1);
    expect(netisr.interfaces[0].txFrames).toBe(2);
    await t.close();
    hub.close();
  });
});
