/** A program's descriptor table (so_fd.ts): lowest free descriptor reused, errno on misuse. */
import { describe, expect, it } from "vitest";
import { ConnRec, FdRec, FdTable } from "@dfly/netisr/internal";

describe("so_fd", () => {
  it("reuses a released descriptor and refuses bad or wrong-kind ones with an errno", () => {
    const t = new FdTable();
    expect(t.alloc(new FdRec(null))).toBe(0);
    expect(t.alloc(new ConnRec(null, null, null))).toBe(1);
    expect(t.open).toBe(2);
    t.release(0);
    expect(t.open).toBe(1);
    expect(() => t.rec(0)).toThrow(/EBADF/);
    expect(t.alloc(new FdRec(null))).toBe(0);
    expect(() => t.conn(0)).toThrow(/ENOTCONN/);
    expect(() => t.unconnected(1, "connect")).toThrow(/EISCONN/);
    expect(() => t.unconnected(1, "bind")).toThrow(/EINVAL/);
    expect(t.size).toBe(2);
  });
});
