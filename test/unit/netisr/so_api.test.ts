/** The sockets API's types (so_api.ts): a host's own listen backend joins and leaves SO_REUSEPORT groups. */
import { describe, expect, it } from "vitest";
import { HostListenBackend, SockError, TcpHost } from "@dfly/netisr/internal";

describe("so_api", () => {
  it("HostListenBackend: two SO_REUSEPORT members get slots 0 and 1; closing an idle one moves and drops nothing", async () => {
    const b = new HostListenBackend(new TcpHost({ ncpus: 2, output: () => undefined }));
    const req = { laddr: 0, lport: 80, reuseport: true, backlog: -1, owner: "app" };
    const a = await b.listen(req);
    const c = await b.listen(req);
    expect([a.index, a.size, c.index, c.size]).toEqual([0, 1, 1, 2]);
    const r = await b.close(c.id);
    expect([r.migrated, r.dropped]).toEqual([0, 0]);
    const e = new SockError("EBADF", "fd 9 is not an open socket", 9);
    expect([e.name, e.code, e.fd, e.message]).toEqual(["SockError", "EBADF", 9, "EBADF: fd 9 is not an open socket"]);
  });
});
