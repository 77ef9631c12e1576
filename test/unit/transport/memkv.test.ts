import { describe, expect, it } from "vitest";
import { KvBadKeyError, KvExistsError, MemKv, kvKey, kvKeyDecode, type KvEntry } from "@dfly/transport";

const b = (s: string) => new TextEncoder().encode(s);
const s = (u: Uint8Array) => new TextDecoder().decode(u);

describe("MemKv (JetStream KV semantics)", () => {
  it("revisions are bucket-wide and increasing; delete is a tombstone", async () => {
    const kv = new MemKv();
    const r1 = await kv.put("a", b("1"));
    const r2 = await kv.put("b", b("2"));
    const r3 = await kv.put("a", b("3"));
    expect([r1, r2, r3]).toEqual([1, 2, 3]);
    expect(s((await kv.get("a"))!.value)).toBe("3");
    expect((await kv.get("a"))!.revision).toBe(3);
    await kv.delete("a");
    expect(await kv.get("a")).toBeUndefined();
    expect(await kv.keys()).toEqual(["b"]);
    await kv.delete("never");
    expect(await kv.put("a", b("4"))).toBe(6); // the two deletes took revisions 4 and 5
  });

  it("create refuses a live key but not a deleted one", async () => {
    const kv = new MemKv();
    await kv.create("k", b("1"));
    await expect(kv.create("k", b("2"))).rejects.toBeInstanceOf(KvExistsError);
    await kv.delete("k");
    await kv.create("k", b("3"));
    expect(s((await kv.get("k"))!.value)).toBe("3");
  });

  it("watch sees later changes in order until stopped; values are copies", async () => {
    const kv = new MemKv();
    await kv.put("before", b("x"));
    const seen: KvEntry[] = [];
    const stop = await kv.watch((e) => seen.push(e));
    const v = b("1");
    await kv.put("a", v);
    v[0] = 0x39;
    await kv.delete("a");
    await new Promise((r) => setTimeout(r, 0));
    stop();
    await kv.put("after", b("y"));
    await new Promise((r) => setTimeout(r, 0));
    expect(seen.map((e) => [e.key, e.operation, e.revision, s(e.value)])).toEqual([
      ["a", "PUT", 2, "1"],
      ["a", "DEL", 3, ""],
    ]);
  });

  it("refuses bad keys; kvKey encodes anything into a valid key", async () => {
    const kv = new MemKv();
    await expect(kv.put("a b", b("1"))).rejects.toBeInstanceOf(KvBadKeyError);
    await expect(kv.put(".a", b("1"))).rejects.toBeInstanceOf(KvBadKeyError);
    for (const raw of ["10.0.0.0/8", "a b", ".lead", "trail.", "", "é*>"]) {
      const k = kvKey(raw);
      await kv.put(k, b(raw));
      expect(kvKeyDecode(k)).toBe(raw);
    }
  });
});
