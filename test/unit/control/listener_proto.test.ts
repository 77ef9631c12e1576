/**
 * The gRPC edge of a listener (listener_proto.ts): proto3's zero values mean absent (backlog 0 =
 * somaxconn, "" and "*" = INADDR_ANY, the slot only with SO_REUSEPORT), a bad address is refused,
 * and a spec goes to a ListListeners row and back unchanged.
 */
import { describe, expect, it } from "vitest";
import { BadRequestError, listenerProtoOf, listenerSpecOf, listenRequestOf, listenRequestProtoOf } from "@dfly/control";
import type { ListenerSpec } from "@dfly/wire";

const proto = { address: "10.9.8.7", port: 8443, reuseport: true, backlog: 77, owner: "web", nodelay: true, sndbuf: 131072, rcvbuf: 65536 };

describe("listener_proto", () => {
  it("a Listen request to the spec's request and back", () => {
    const req = listenRequestOf(proto);
    expect(req).toEqual({ laddr: (10 << 24) | (9 << 16) | (8 << 8) | 7, lport: 8443, reuseport: true, backlog: 77, owner: "web", nodelay: true, sndbuf: 131072, rcvbuf: 65536 });
    expect(listenRequestProtoOf(req)).toEqual(proto);
  });

  it("zero values are absent", () => {
    for (const address of ["", "*", "0.0.0.0"]) {
      expect(listenRequestOf({ address, port: 80, reuseport: false, backlog: 0, owner: "a", nodelay: false, sndbuf: 0, rcvbuf: 0 })).toEqual({ laddr: 0, lport: 80, reuseport: false, backlog: -1, owner: "a" });
    }
    expect(listenRequestProtoOf({ laddr: 0, lport: 80, reuseport: false, backlog: -1, owner: "a" })).toEqual({ address: "0.0.0.0", port: 80, reuseport: false, backlog: 0, owner: "a", nodelay: false, sndbuf: 0, rcvbuf: 0 });
    expect(() => listenRequestOf({ ...proto, address: "300.1.1.1" })).toThrow(BadRequestError);
  });

  it("a spec to a ListListeners row and back, the slot only with SO_REUSEPORT", () => {
    const spec: ListenerSpec = { id: "L3", ...listenRequestOf(proto), index: 2 };
    const row = listenerProtoOf(spec, [{ cpu: 0, depth: 4 }]);
    expect(row).toEqual({ listenerId: "L3", ...proto, groupIndex: 2, queues: [{ cpu: 0, depth: 4 }] });
    expect(listenerSpecOf(row)).toEqual(spec);
    const single: ListenerSpec = { id: "L4", laddr: 0, lport: 81, reuseport: false, backlog: -1, owner: "p" };
    expect(listenerProtoOf(single).groupIndex).toBe(0);
    expect(listenerSpecOf(listenerProtoOf(single))).toEqual(single);
  });
});
