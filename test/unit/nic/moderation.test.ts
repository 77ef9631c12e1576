import { describe, expect, it } from "vitest";
import { IntrModerator, moderationFor, nicModel, NicMode, usableRings } from "@dfly/nic";

describe("interrupt moderation", () => {
  it("fires at the frame threshold, or once the first frame has waited 1/intr_rate", () => {
    const m = new IntrModerator(moderationFor(8000, 64));
    expect(m.cfg.usecs).toBe(125);
    expect(m.add(10, 1000)).toBe(false);
    expect(m.due(1100)).toBe(false);
    expect(m.remaining(1100)).toBe(25);
    expect(m.due(1125)).toBe(true);
    m.fire();
    expect(m.remaining(2000)).toBe(Infinity);
    expect(m.add(63, 2000)).toBe(false);
    expect(m.add(1, 2001)).toBe(true);
    m.fire();
    expect(m.interrupts).toBe(2);
    expect(m.due(99999)).toBe(false);
  });
});

describe("NIC models", () => {
  it("82576: 16 rings with polling, 8 with its 10 MSI-X vectors (paper §1.7)", () => {
    const m = nicModel("82576");
    expect(usableRings(m, NicMode.polling)).toBe(16);
    expect(usableRings(m, NicMode.interrupt)).toBe(8);
    expect(usableRings(nicModel("82599"), NicMode.interrupt)).toBe(16);
    expect(() => nicModel("rtl8139")).toThrow(/unknown NIC model/);
  });
});
