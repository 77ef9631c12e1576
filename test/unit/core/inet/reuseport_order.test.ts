/**
 * SO_REUSEPORT group order on CPUs that are separate hosts (in_pcb.ts `insLocalGroupOncpu`): the
 * first CPU sees every listen and close as it happens and assigns each member its slot
 * (`inp_lgrpindex`); other CPUs, some joining late, install the members with those slots, in
 * whatever order they get them. Reference (a hand model, not the code): a listen takes the lowest
 * slot no live member holds; the group's order is by slot; the heir of a closing member is the
 * last other member in that order (`in_pcblocalgroup_last`).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { InpcbHost, type Inpcb } from "@dfly/core";

const PORT = 80;

type Op = { k: "listen" } | { k: "close"; which: number } | { k: "join"; order: number[] };

class Cpu {
  readonly host = new InpcbHost<unknown>({ ncpus: 1 });
  readonly byId = new Map<string, Inpcb<unknown>>();

  listen(id: string, index: number): number {
    const inp = this.host.alloc(0);
    this.host.bind(inp, 0, PORT, { reuseport: true });
    inp.lgrpindex = index;
    this.host.listen(inp);
    this.byId.set(id, inp);
    return inp.lgrpindex;
  }

  close(id: string): void {
    const inp = this.byId.get(id)!;
    this.byId.delete(id);
    this.host.unlisten(inp);
    this.host.detach(inp);
  }

  idOf(inp: Inpcb<unknown> | undefined): string | undefined {
    for (const [id, x] of this.byId) if (x === inp) return id;
    return undefined;
  }

  order(): string[] {
    const g = this.host.pcbinfo[0].localGroup(0, PORT);
    return g ? g.members.map((m) => `${this.idOf(m)}:${m.lgrpindex}`) : [];
  }

  heir(id: string): string | undefined {
    return this.idOf(this.host.pcbinfo[0].localGroupLast(this.byId.get(id)!));
  }
}

/** The hand model: live members by slot. */
class Model {
  readonly live = new Map<string, number>();
  listen(id: string): number {
    const used = new Set(this.live.values());
    let i = 0;
    while (used.has(i)) i++;
    this.live.set(id, i);
    return i;
  }
  order(): string[] {
    return [...this.live].sort((a, b) => a[1] - b[1]).map(([id, i]) => `${id}:${i}`);
  }
  heir(id: string): string | undefined {
    const o = [...this.live].sort((a, b) => a[1] - b[1]).map(([x]) => x);
    if (o.length < 2) return undefined;
    const i = o.indexOf(id);
    return o[i === o.length - 1 ? o.length - 2 : o.length - 1];
  }
}

describe("SO_REUSEPORT group order across CPUs", () => {
  it("the issue's sequence: L1-L6, close L2 L3 L5, open L7 — a late CPU (installing in id order) holds the live CPU's order", () => {
    const live = new Cpu();
    const idx = new Map<string, number>();
    for (let i = 1; i <= 6; i++) idx.set(`L${i}`, live.listen(`L${i}`, -1));
    for (const id of ["L2", "L3", "L5"]) {
      live.close(id);
      idx.delete(id);
    }
    idx.set("L7", live.listen("L7", -1));
    expect(live.order()).toEqual(["L1:0", "L7:1", "L4:3", "L6:5"]);
    const late = new Cpu();
    for (const id of ["L1", "L4", "L6", "L7"]) late.listen(id, idx.get(id)!);
    expect(late.order()).toEqual(["L1:0", "L7:1", "L4:3", "L6:5"]);
    for (const id of ["L1", "L7", "L4", "L6"]) expect(late.heir(id)).toBe(live.heir(id));
    expect(live.heir("L1")).toBe("L6");
    expect(live.heir("L6")).toBe("L4");
  });

  it("property: 2..12 CPUs joining at random points, installing in random order: the model's order and heirs everywhere", () => {
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: fc.constant({ k: "listen" as const }) },
      { weight: 3, arbitrary: fc.record({ k: fc.constant("close" as const), which: fc.nat(50) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("join" as const), order: fc.array(fc.nat(1000), { minLength: 20, maxLength: 20 }) }) },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 11 }), fc.array(opArb, { minLength: 10, maxLength: 80 }), (extra, ops) => {
        const model = new Model();
        const first = new Cpu();
        const cpus = [first];
        let next = 1;
        for (const op of ops) {
          if (op.k === "listen") {
            const id = `L${next++}`;
            const want = model.listen(id);
            expect(first.listen(id, -1)).toBe(want);
            for (const c of cpus.slice(1)) c.listen(id, want);
          } else if (op.k === "close") {
            if (model.live.size === 0) continue;
            const ids = [...model.live.keys()];
            const id = ids[op.which % ids.length];
            const heir = model.heir(id);
            for (const c of cpus) expect(c.heir(id)).toBe(heir);
            model.live.delete(id);
            for (const c of cpus) c.close(id);
          } else if (cpus.length < extra + 1) {
            // A late CPU installs the live members in an order of its own.
            const late = new Cpu();
            const ids = [...model.live.keys()];
            const keyed = ids.map((id, i) => ({ id, k: op.order[i % op.order.length] + i / 1000 }));
            keyed.sort((a, b) => a.k - b.k);
            for (const { id } of keyed) late.listen(id, model.live.get(id)!);
            cpus.push(late);
          }
          const want = model.order();
          for (const c of cpus) expect(c.order()).toEqual(want);
        }
        for (const id of model.live.keys()) for (const c of cpus) expect(c.heir(id)).toBe(model.heir(id));
      }),
      { numRuns: 300 },
    );
  });
});
