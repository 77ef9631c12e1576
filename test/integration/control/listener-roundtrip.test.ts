/**
 * One listener type from proto to core: a listener with every field set goes through the gRPC
 * Listen call, the control's KV bucket, the `listen` netmsg to a running CPU, the ListListeners
 * reconciliation of a CPU that joins later, the core's listen socket and back out through
 * ListListeners, and no field is lost or changed on the way.
 */
import { describe, expect, it } from "vitest";
import { ControlClient, startControl } from "@dfly/control";
import { ipAddr } from "@dfly/core";
import { nicInterfaceSpec } from "@dfly/nic";
import { startNetisr, type NetisrHandle } from "@dfly/netisr/internal";
import { InprocHub, kvKey } from "@dfly/transport";
import type { ListenerSpec } from "@dfly/wire";

describe("a listener with every field set", () => {
  it("survives proto → control → KV → netisr → core → ListListeners unchanged", async () => {
    const hub = new InprocHub();
    const t = await hub.connect();
    const control = await startControl({ transport: t, grpcPort: 0, interfaces: [nicInterfaceSpec({ ifname: "ix0", model: "82599", mode: "interrupt", addresses: ["10.9.8.7/24"] })] });
    const cpus: NetisrHandle[] = [await startNetisr({ transport: t, cluster: "dfly", cpu: 0, controlAddr: control.grpcAddr })];
    await cpus[0].whenReady();
    const client = new ControlClient(control.grpcAddr);
    try {
      // A second member first, so the listener under test gets slot 1 (a non-zero index).
      await client.listen({ address: "10.9.8.7", port: 8443, reuseport: true, owner: "first" });
      const request = { address: "10.9.8.7", port: 8443, reuseport: true, backlog: 77, owner: "prog-all", nodelay: true, sndbuf: 131072, rcvbuf: 65536 };
      const r = await client.listen(request);
      expect([r.groupIndex, r.groupSize]).toEqual([1, 2]);
      const expected: ListenerSpec = {
        id: r.listenerId,
        laddr: ipAddr("10.9.8.7"),
        lport: 8443,
        reuseport: true,
        backlog: 77,
        owner: "prog-all",
        index: 1,
        nodelay: true,
        sndbuf: 131072,
        rcvbuf: 65536,
      };

      // KV: what a restarted control and every reconciliation read.
      const kv = await t.kv("dfly-listeners");
      const stored = await kv.get(kvKey(r.listenerId));
      expect(JSON.parse(new TextDecoder().decode(stored!.value))).toEqual(expected);

      // A CPU that runs installs it from the `listen` netmsg; one that joins later from ListListeners.
      cpus.push(await startNetisr({ transport: t, cluster: "dfly", cpu: 1, controlAddr: control.grpcAddr }));
      await cpus[1].whenReady();
      for (const h of cpus) {
        for (const end = Date.now() + 5000; !h.tcp!.host?.listener(r.listenerId); await new Promise((res) => setTimeout(res, 20))) {
          if (Date.now() > end) throw new Error(`cpu ${h.service.cpu} did not install ${r.listenerId}`);
        }
        const host = h.tcp!.host!;
        const rec = host.listener(r.listenerId)!;
        expect(rec.spec).toEqual(expected);
        // The core's listen socket and what an accepted connection inherits.
        expect([rec.ls.inp.laddr >>> 0, rec.ls.inp.lport, rec.ls.inp.lgrpindex, rec.ls.qlimit]).toEqual([expected.laddr, 8443, 1, 77]);
        expect(host.connOptions(rec.spec)).toEqual({ nodelay: true, sndbuf: 131072, rcvbuf: 65536 });
      }

      // And back out at the gRPC edge, as it went in.
      const listed = (await client.listListeners()).listeners.find((l) => l.listenerId === r.listenerId)!;
      expect(listed).toEqual({
        listenerId: r.listenerId,
        ...request,
        groupIndex: 1,
        queues: [
          { cpu: 0, depth: 0 },
          { cpu: 1, depth: 0 },
        ],
      });
      expect(await client.listenerSpecs()).toContainEqual(expected);
    } finally {
      client.close();
      for (const h of cpus) await h.stop();
      await control.stop(500);
      await t.close();
      hub.close();
    }
  });
});
