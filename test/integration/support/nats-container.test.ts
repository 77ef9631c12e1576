import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { startNats, type NatsContainer } from "../../support/nats.js";

describe("startNats: nats-server in a host-networked container", () => {
  let nats: NatsContainer;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    nc = await connect({ servers: nats.url, name: "support-test" });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it("listens on the picked 127.0.0.1 port and delivers a published message", async () => {
    expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
    const sub = nc.subscribe("dfly.nic.ix0.rx.0", { max: 1 });
    const got = (async () => {
      for await (const m of sub) return m.string();
    })();
    nc.publish("dfly.nic.ix0.rx.0", "frame-batch");
    expect(await got).toBe("frame-batch");
  });

  it("serves monitoring with JetStream enabled and keeps KV across a restart", async () => {
    const varz = (await (await fetch(`${nats.monitorUrl}/varz`)).json()) as { version: string; jetstream?: { config?: object } };
    expect(varz.version).toMatch(/^2\.9\./);
    expect(varz.jetstream?.config).toBeDefined();

    const kv = await new Kvm(nc).create("support_test");
    await kv.put("route.10.0.0.0/8", "ix1");
    await nc.close();
    await nats.restart();
    nc = await connect({ servers: nats.url, name: "support-test-2" });
    const again = await new Kvm(nc).open("support_test");
    expect((await again.get("route.10.0.0.0/8"))?.string()).toBe("ix1");
  }, 60_000); // a container restart (stop up to 5 s, start, /healthz up to 20 s) can outlast the default 30 s when the suite loads the machine
});
