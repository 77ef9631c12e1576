/**
 * Socket netmsg bodies (socknetmsg.ts): a `listen` body carries a ListenerSpec as the control
 * stores it (address a u32, slot only with SO_REUSEPORT); anything else is refused naming the field.
 */
import { describe, expect, it } from "vitest";
import { isOwnerName, sockBodyListener, type ListenerSpec } from "@dfly/wire";

const spec: ListenerSpec = { id: "L7", laddr: 0x0a090807, lport: 8443, reuseport: true, backlog: 77, owner: "web", index: 1, nodelay: true, sndbuf: 131072, rcvbuf: 65536 };

describe("sockBodyListener", () => {
  it("takes a spec with every field, and one with only the required ones", () => {
    expect(sockBodyListener({ listener: spec })).toEqual(spec);
    const bare = { id: "L1", laddr: 0, lport: 80, reuseport: false, backlog: -1, owner: "app" };
    expect(sockBodyListener({ listener: bare })).toEqual(bare);
  });

  it("names the field that is wrong", () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ laddr: "10.9.8.7" }, "listener.laddr"],
      [{ laddr: 2 ** 32 }, "listener.laddr"],
      [{ lport: 0 }, "listener.lport"],
      [{ index: -1 }, "listener.index"],
      [{ owner: "a.b" }, "listener.owner"],
      [{ sndbuf: -1 }, "listener.sndbuf"],
      [{ nodelay: 1 }, "listener.nodelay"],
      [{ id: "" }, "listener.id"],
    ];
    for (const [patch, reason] of bad) expect(sockBodyListener({ listener: { ...spec, ...patch } }), JSON.stringify(patch)).toBe(reason);
    expect(sockBodyListener({})).toBe("body.listener missing");
  });

  it("owner names are subject tokens", () => {
    expect([isOwnerName("prog-a_1"), isOwnerName("a.b"), isOwnerName(""), isOwnerName("x".repeat(65))]).toEqual([true, false, false, false]);
  });
});
