/**
 * The program-socket port (tcp_usrreq.ts), through a CPU's port on the in-process bus:
 * a malformed socket netmsg is refused and counted `bad`; a call for a socket that does not
 * exist is counted `nosock` (refused when synchronous); a listen installs the listener, a
 * second one on the same address is refused; `listeners` lists it.
 */
import { afterEach, describe, expect, it } from "vitest";
import { SockNetmsg, decodeNetmsg, encodeNetmsg } from "@dfly/wire";
import { startNetisr } from "@dfly/netisr/internal";
import { subjects } from "@dfly/transport";
import { inprocTransport } from "../../support/inproc.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f().catch(() => undefined);
});

describe("tcp_usrreq", () => {
  it("refuses and counts bad calls, installs listeners", async () => {
    const t = await inprocTransport(cleanups);
    const h = await startNetisr({ transport: t, cluster: "c", cpu: 0, topology: { epoch: 1, cpus: [0], interfaces: [], rssKey: "" } });
    cleanups.push(() => h.stop());
    // Socket calls on the open port; listener calls are the control's (its subject).
    const call = async (data: Uint8Array, control = false) => {
      const r = decodeNetmsg((await t.request((control ? subjects.ctl : subjects.netisr)("c", 0), data, { timeoutMs: 2000 })).data);
      if (typeof r === "string" || r.type !== 0x1f) throw new Error("not a reply");
      return r;
    };
    const bad = new Uint8Array([SockNetmsg.accept, 1, 0, 0, 0, 0x7b]);
    expect((await call(bad)).ok).toBe(false);
    expect(h.tcp!.stats.bad).toBe(1);
    const send = await call(encodeNetmsg.socket(SockNetmsg.send, 2, { id: 999, data: "aGk=", sync: true }));
    expect([send.ok, send.error]).toEqual([false, "no socket 999"]);
    expect(h.tcp!.stats.nosock).toBe(1);
    const listen = (id: string) => call(encodeNetmsg.socket(SockNetmsg.listen, 3, { listener: { id, laddr: 0, lport: 80, reuseport: false, backlog: 8, owner: "app" } }), true);
    expect((await listen("L1")).ok).toBe(true);
    expect((await listen("L2")).ok).toBe(false);
    const ls = await call(encodeNetmsg.socket(SockNetmsg.listeners, 4, {}), true);
    expect((ls.body as { listeners: { id: string }[] }).listeners.map((l) => l.id)).toEqual(["L1"]);
    expect(h.tcp!.stats.calls).toBe(5);
  });
});
