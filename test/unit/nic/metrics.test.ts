import { afterEach, describe, expect, it } from "vitest";
import { ifnetTopology, Nic, NicDrop, nicInterfaceSpec, nicMetrics } from "@dfly/nic";
import { encodeFrameBatch, InprocHub, subjects } from "@dfly/transport";

const hubs: InprocHub[] = [];
afterEach(() => {
  for (const h of hubs.splice(0)) h.close();
});

/** `reason → value` of dfly_nic_dropped_total for one interface, from the text exposition. */
async function dropped(text: string, ifname: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^dfly_nic_dropped_total\{ifname="([^"]+)",reason="([^"]+)"\} (\S+)$/gm)) if (m[1] === ifname) out.set(m[2]!, Number(m[3]));
  return out;
}

describe("nicMetrics: dfly_nic_dropped_total", () => {
  it("has every drop reason of every interface at 0 before the first drop, then counts the drops", async () => {
    const hub = new InprocHub();
    hubs.push(hub);
    const nicT = await hub.connect();
    const t = await hub.connect();
    const topo = (ifname: string) => ifnetTopology(nicInterfaceSpec({ ifname, model: "82599", mode: "interrupt", rings: 1 }), [0]);
    const nic = new Nic({ transport: nicT, cluster: "c", interfaces: [topo("ix0"), topo("ix1")] });
    const reg = nicMetrics(nic);
    const reasons = Object.values(NicDrop).sort();
    for (const ifname of ["ix0", "ix1"]) {
      const d = await dropped(await reg.metrics(), ifname);
      expect([...d.keys()].sort(), ifname).toEqual(reasons);
      expect([...d.values()].every((v) => v === 0), ifname).toBe(true);
    }
    await t.flush();
    await nicT.flush();
    t.publish(subjects.wireIn("c", "ix1"), encodeFrameBatch([{ data: new Uint8Array(0), hash: 0 }]));
    await new Promise((r) => setTimeout(r, 20));
    const d1 = await dropped(await reg.metrics(), "ix1");
    expect(d1.get(NicDrop.runt)).toBe(1);
    expect([...d1].filter(([r]) => r !== NicDrop.runt).every(([, v]) => v === 0)).toBe(true);
    expect((await dropped(await reg.metrics(), "ix0")).get(NicDrop.runt)).toBe(0);
    nic.close();
  });
});
