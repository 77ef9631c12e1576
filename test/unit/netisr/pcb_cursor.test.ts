/**
 * The PCB listing cursor (pcb_cursor.ts): a listing steps through this CPU's connections and
 * then lists its listeners once; an unknown or expired token ends the walk with no rows.
 */
import { describe, expect, it } from "vitest";
import { TcpHost, PcbCursors } from "@dfly/netisr/internal";

describe("pcb_cursor", () => {
  it("lists the listeners after the connections, in steps of `limit`; a stale token ends the walk", () => {
    const host = new TcpHost({ ncpus: 1, output: () => undefined });
    for (const [id, lport] of [["L80", 80], ["L81", 81]] as const) host.listenInstall({ id, laddr: 0, lport, reuseport: false, backlog: -1, owner: "app" });
    const cursors = new PcbCursors(0);
    const first = cursors.step(host, 0, 256);
    expect(first.done).toBe(true);
    expect(first.token).toBe(0);
    expect(first.rows.map((r) => [r.listener, r.state, r.lport]).sort()).toEqual([
      ["L80", "LISTEN", 80],
      ["L81", "LISTEN", 81],
    ]);
    expect(cursors.step(host, 12345, 10)).toEqual({ token: 0, done: true, rows: [] });
    cursors.expire();
    cursors.close();
  });
});
