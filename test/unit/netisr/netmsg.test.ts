/**
 * The port's netmsg registry (netmsg.ts): a message goes to its type's handler by table lookup;
 * an empty one or one of a type nobody registered is counted by reason (and refused when the
 * sender waits for an answer), never thrown; a type registered twice is a wiring error.
 */
import { describe, expect, it } from "vitest";
import { type Msg } from "@dfly/transport";
import { decodeNetmsg } from "@dfly/wire";
import { NetmsgRegistry, NetmsgRegistryError, PORT_NETMSGS } from "@dfly/netisr/internal";

const msg = (data: Uint8Array, replies?: Uint8Array[]): Msg => ({ subject: "c.netisr.0", data, ...(replies ? { reply: "r" } : {}), respond: (d) => {
    replies?.push(d);
    return true;
  },
});

describe("netmsg registry", () => {
  it("dispatches by type byte, counts what it cannot take", () => {
    const p = new NetmsgRegistry(0);
    const got: string[] = [];
    p.register("home", () => got.push("home"));
    p.register(["send", "close"], (m) => got.push(`call ${m.data[0]}`));
    p.dispatch(msg(new Uint8Array([PORT_NETMSGS.home, 0])));
    p.dispatch(msg(new Uint8Array([PORT_NETMSGS.close])));
    expect(got).toEqual(["home", `call ${PORT_NETMSGS.close}`]);
    expect(p.nameOf(PORT_NETMSGS.send)).toBe("send");
    expect(p.handled).toEqual({ home: 1, close: 1 });

    const replies: Uint8Array[] = [];
    p.dispatch(msg(new Uint8Array(0)));
    p.dispatch(msg(new Uint8Array([0x7e, 1, 2]), replies));
    p.dispatch(msg(new Uint8Array([0x7e])));
    expect(p.dropped).toEqual({ tooshort: 1, unknown: 2 });
    expect(replies).toHaveLength(1);
    const r = decodeNetmsg(replies[0]);
    expect(typeof r !== "string" && r.type === 0x1f && !r.ok && r.error).toMatch(/unknown netmsg 0x7e/);
  });

  it("every type byte is declared once", () => {
    const bytes = Object.values(PORT_NETMSGS);
    expect(new Set(bytes).size).toBe(bytes.length);
    const p = new NetmsgRegistry(0);
    p.register("fence", () => undefined);
    expect(() => p.register("fence", () => undefined)).toThrow(NetmsgRegistryError);
  });
});
