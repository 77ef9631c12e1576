/** The socket outside the TCB (so.ts): without a TCB it is CLOSED and held by nobody. */
import { describe, expect, it } from "vitest";
import { InpcbHost, type TcpCb } from "@dfly/core";
import { So, SoEvent } from "@dfly/netisr/internal";

describe("so", () => {
  it("a new socket has no descriptor, no remote id and reads CLOSED", () => {
    const pcb = new InpcbHost<TcpCb>({ ncpus: 1 });
    const so = new So(0, pcb.alloc(0));
    expect([so.fd, so.id, so.owner, so.state]).toEqual([-1, 0, null, "CLOSED"]);
    expect(SoEvent.MOVED).toBe("moved");
  });
});
