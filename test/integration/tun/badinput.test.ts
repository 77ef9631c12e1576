/**
 * Bad input at the TUN wire: a device that cannot be opened is one clear error line and
 * exit 1 (no CAP_NET_ADMIN; the name taken); packets Linux sends that are not IPv4 or larger
 * than the NIC's maximum frame are counted by reason (dfly_nic_dropped_total{reason}), and the
 * stack keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DFLY, expectedBytes, Netns, requireTools, sha256, STACK, startServe } from "./netns.js";

describe("a TUN device that cannot be opened", () => {
  let ns: Netns;
  beforeAll(() => {
    requireTools(["setpriv", "util-linux"]);
    ns = new Netns("bad");
  });
  afterAll(async () => ns?.close());

  const errLines = (s: string) => s.split("\n").filter((l) => l.trim() !== "");

  it("without CAP_NET_ADMIN: one line naming the device, exit 1", () => {
    const r = ns.exec(["setpriv", "--bounding-set=-all", "--inh-caps=-all", process.execPath, DFLY, "run", "--tun", "dfly0", "--duration", "2s"], 30_000);
    expect(r.status).toBe(1);
    expect(errLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^dfly run: tun dfly0: cannot open: .*(not permitted|CAP_NET_ADMIN)/);
  });

  it("the name taken by another interface: one line, exit 1, and that interface is left alone", () => {
    expect(ns.exec(["ip", "link", "add", "dfly0", "type", "veth", "peer", "name", "dfly0p"]).status).toBe(0);
    const r = ns.exec([process.execPath, DFLY, "run", "--tun", "dfly0", "--duration", "2s"], 30_000);
    expect(r.status).toBe(1);
    expect(errLines(r.stderr)).toEqual(["dfly run: tun dfly0: an interface of that name already exists"]);
    expect(ns.exec(["ip", "link", "show", "dev", "dfly0"]).stdout.toString()).toMatch(/dfly0@dfly0p/);
  });
});

describe("non-IPv4 and oversize packets from the device", () => {
  let ns: Netns;
  beforeAll(() => {
    requireTools(["curl", "curl"]);
    ns = new Netns("drops");
  });
  afterAll(async () => ns?.close());

  it("are counted by reason, and the stack keeps serving", async () => {
    const serve = await startServe(ns);
    // IPv6 (a UDP datagram to an address on the device) and a 9328-byte IPv4 packet (MTU 9500 > 9000).
    expect(ns.exec(["ip", "-6", "addr", "add", "fd00::2/64", "dev", "dfly0", "nodad"]).status).toBe(0);
    expect(ns.exec(["ip", "link", "set", "dfly0", "mtu", "9500"]).status).toBe(0);
    for (let i = 0; i < 3; i++) {
      expect(ns.exec(["sh", "-c", "printf v6 | socat -u - 'UDP6:[fd00::1]:9'"]).status).toBe(0);
      expect(ns.exec(["sh", "-c", `head -c 9300 /dev/zero | socat -u -b 9300 - UDP:${STACK}:9`]).status).toBe(0);
    }
    const body = ns.exec(["curl", "-sS", "--fail", "--max-time", "20", `http://${STACK}/bytes/100000`]).stdout;
    expect(sha256(body)).toBe(sha256(expectedBytes(100_000)));
    expect(await serve.stop()).toBe(0);
    const r = JSON.parse(serve.stdout) as { nic: { ix0: { dropped: Record<string, number> } } };
    expect(r.nic.ix0.dropped.oversize).toBe(3);
    expect(r.nic.ix0.dropped.notipv4).toBeGreaterThanOrEqual(3);
  }, 60_000);
});
