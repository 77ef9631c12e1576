/**
 * Every netmsg type byte is declared once (`@dfly/wire`'s NETMSG): no two names share a byte,
 * the groups the codecs use are views of the table, the bytes are the ones the netisr README's
 * port table documents, the frames type is the frame batch magic's first byte, and no other
 * source file declares a type-byte table.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FRAME_BATCH_MAGIC } from "@dfly/transport";
import { NETMSG, NetmsgType, RescaleNetmsg, SockNetmsg } from "@dfly/wire";

const root = new URL("../../../", import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === "gen" ? [] : sources(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}

describe("netmsg type bytes", () => {
  it("no two names share a byte", () => {
    const byByte = new Map<number, string[]>();
    for (const [name, b] of Object.entries(NETMSG)) byByte.set(b, [...(byByte.get(b) ?? []), name]);
    expect([...byByte.values()].filter((names) => names.length > 1)).toEqual([]);
    for (const b of Object.values(NETMSG)) expect(Number.isInteger(b) && b > 0 && b < 256).toBe(true);
  });

  it("the codecs' groups are views of the one table", () => {
    const { socketFirst, socketLast, ...control } = NetmsgType;
    for (const group of [control, SockNetmsg, RescaleNetmsg]) {
      for (const [name, b] of Object.entries(group)) expect(NETMSG[name as keyof typeof NETMSG], name).toBe(b);
    }
    expect([socketFirst, socketLast]).toEqual([0x20, 0x3f]);
    expect(NETMSG.frames).toBe(FRAME_BATCH_MAGIC & 0xff);
  });

  it("matches the port table of services/netisr/README.md", () => {
    const readme = readFileSync(join(root, "services/netisr/README.md"), "utf8");
    const documented: [string, number][] = [];
    for (const line of readme.split("\n")) {
      const m = /^\| (0x[0-9a-f]{2}(?:[–-]0x[0-9a-f]{2})?(?:, 0x[0-9a-f]{2}(?:[–-]0x[0-9a-f]{2})?)*) \| ([a-zA-Z, ]+) \|/.exec(line);
      if (!m) continue;
      const bytes = m[1].split(", ").flatMap((r) => {
        const [a, b] = r.split(/[–-]/).map((x) => parseInt(x, 16));
        return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
      });
      const names = m[2].split(",").map((s) => s.trim());
      expect(bytes.length, line).toBe(names.length);
      names.forEach((n, i) => documented.push([n, bytes[i]]));
    }
    // Every type a port takes is documented; `reply` and `event` travel to callers and programs, never to a port.
    const taken = Object.keys(NETMSG).filter((n) => n !== "reply" && n !== "event");
    expect(documented.map(([n]) => n).sort()).toEqual(taken.sort());
    for (const [name, b] of documented) expect(NETMSG[name as keyof typeof NETMSG], name).toBe(b);
  });

  it("no other source declares a type-byte table", () => {
    const decl = /\b(?:NETMSG|NetmsgType|SockNetmsg|RescaleNetmsg)\s*=\s*\{/;
    const found = readdirSync(join(root, "services"))
      .flatMap((p) => sources(join(root, "services", p, "src")))
      .filter((f) => decl.test(readFileSync(f, "utf8")))
      .map((f) => f.slice(root.length));
    expect(found).toEqual(["services/wire/src/netmsg_type.ts"]);
  });
});
