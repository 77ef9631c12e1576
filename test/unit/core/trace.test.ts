import { afterEach, describe, expect, it } from "vitest";
import { parseTraceSpec, setTrace, trace, TraceArea, traceEnabled } from "@dfly/core";

describe("DFLY_TRACE", () => {
  let restore: () => void = () => {};
  afterEach(() => restore());

  it("parses areas, all, and ignores unknown names", () => {
    expect([...parseTraceSpec("route, REUSEPORT,bogus")].sort()).toEqual(["reuseport", "route"]);
    expect(parseTraceSpec("all").size).toBe(Object.keys(TraceArea).length);
    expect(parseTraceSpec("").size).toBe(0);
  });

  it("writes only the enabled areas and formats nothing for the others", () => {
    const lines: string[] = [];
    restore = setTrace("route", (l) => lines.push(l));
    let formatted = 0;
    trace(TraceArea.route, () => "add 10.0.0.0/8");
    trace(TraceArea.rss, () => {
      formatted++;
      return "never";
    });
    expect(lines).toEqual(["dfly:route add 10.0.0.0/8"]);
    expect(formatted).toBe(0);
    expect(traceEnabled(TraceArea.route)).toBe(true);
    expect(traceEnabled(TraceArea.rss)).toBe(false);
  });
});
