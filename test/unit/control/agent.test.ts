// The agent queues route changes that arrive before its table is loaded (answering at once, so the chain goes on) and applies them after.
import { describe, expect, it } from "vitest";
import { ControlClient, startControl } from "@dfly/control";
import { InprocHub, subjects } from "@dfly/transport";
import { NetmsgType, decodeNetmsg, encodeNetmsg } from "@dfly/wire";
import { startFakeCpu } from "../../support/fake-netisr.js";

describe("ControlAgent", () => {
  it("queues early changes, applies the newer ones after the full table is loaded; drops malformed control netmsgs", async () => {
    const hub = new InprocHub();
    const t = await hub.connect();
    const control = await startControl({ transport: t, grpcPort: 0, heartbeatMs: 100 });
    const client = new ControlClient(control.grpcAddr);
    await client.addRoute({ prefix: "10.0.0.0/8", ifname: "" , gateway: "192.0.2.1" });
    const rev = (await client.listRoutes()).revision;
    const ct = await hub.connect();
    const fake = await startFakeCpu({ cpu: 7, transport: ct, controlAddr: control.grpcAddr, wait: false });
    expect(fake.agent.ready).toBe(false);
    // A change newer than any snapshot, sent straight to the port before the agent loaded.
    const early = t.request(subjects.ctl("dfly", 7), encodeNetmsg.routeAdd(1, { prefix: "192.0.2.0/25", ifname: "ix1" }, rev + 1000), { timeoutMs: 5000 });
    // One the snapshot already has (older revision): answered, not applied twice.
    const old = t.request(subjects.ctl("dfly", 7), encodeNetmsg.routeAdd(2, { prefix: "10.0.0.0/8", gateway: "192.0.2.9" }, rev), { timeoutMs: 5000 });
    const reply = decodeNetmsg((await early).data);
    expect(reply).toMatchObject({ type: NetmsgType.reply, id: 1, ok: true, body: { held: true } });
    expect(decodeNetmsg((await old).data)).toMatchObject({ id: 2, ok: true });
    await fake.agent.whenReady();
    expect(fake.routes.has("192.0.2.0/25")).toBe(true);
    expect(fake.routes.get("10.0.0.0/8")?.gateway).toBe((192 << 24 >>> 0) + (2 << 8) + 1); // the snapshot's, not 192.0.2.9

    // Malformed control netmsg: counted, not answered, agent keeps working.
    const bad = Uint8Array.of(NetmsgType.routeAdd, 0, 0, 0, 0, 0x7b);
    expect(fake.agent.handleNetmsg({ subject: "x", data: bad, respond: () => true })).toBe(true);
    expect(fake.agent.drops.badjson).toBe(1);
    expect(fake.agent.handleNetmsg({ subject: "x", data: Uint8Array.of(0x1b), respond: () => true })).toBe(false);
    expect(fake.agent.handleNetmsg({ subject: "x", data: Uint8Array.of(0x21, 0, 0, 0, 0), respond: () => true })).toBe(false);

    await fake.stop();
    client.close();
    await control.stop(200);
    await t.close();
    await ct.close();
    hub.close();
  });
});
