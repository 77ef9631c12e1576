/**
 * IP reassembly against Linux: `ping -s 4000` sends each echo request as three fragments
 * (MTU 1500); the stack reassembles them (ip_reass), answers, and fragments its 4028-byte reply,
 * which Linux reassembles and matches to its request. With net.inet.ip.maxfragpackets=0 (set
 * through the embedded control, as `dfly sysctl -w` does) every fragment is dropped and counted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Netns, requireTools, STACK, startServe } from "./netns.js";

describe("fragmented datagrams from Linux to the stack", () => {
  let ns: Netns;
  beforeAll(() => {
    requireTools(["ping", "iputils-ping"]);
    ns = new Netns("reass");
  });
  afterAll(async () => ns?.close());

  it("ping -s 4000 is reassembled and answered (RFC 791 reassembly, RFC 792 echo)", async () => {
    const serve = await startServe(ns);
    const r = ns.exec(["ping", "-c", "3", "-i", "0.2", "-W", "3", "-s", "4000", STACK], 30_000);
    expect(r.stdout.toString()).toMatch(/3 packets transmitted, 3 received/);
    expect(r.stdout.toString()).toMatch(/4008 bytes from 198\.18\.0\.1/);
    expect(r.status).toBe(0);
    expect(await serve.stop()).toBe(0);
    const rep = JSON.parse(serve.stdout) as { ip: Record<string, number> };
    const ip = rep.ip;
    expect(ip.reassembled).toBe(3);
    expect(ip.fragments).toBe(9);
    expect(ip.fragdropped ?? 0).toBe(0);
  }, 60_000);

  it("with --sysctl net.inet.ip.maxfragpackets=0 (embedded control) no fragment is accepted: no reply, every fragment fragdropped", async () => {
    const serve = await startServe(ns, ["--sysctl", "net.inet.ip.maxfragpackets=0"]);
    const r = ns.exec(["ping", "-c", "2", "-i", "0.2", "-W", "1", "-s", "4000", STACK], 30_000);
    expect(r.stdout.toString()).toMatch(/2 packets transmitted, 0 received/);
    expect(ns.exec(["ping", "-c", "1", "-W", "2", STACK]).status).toBe(0); // unfragmented still answered
    expect(await serve.stop()).toBe(0);
    const ip = (JSON.parse(serve.stdout) as { ip: Record<string, number> }).ip;
    expect(ip.fragments).toBe(6);
    expect(ip.fragdropped).toBe(6);
    expect(ip.reassembled).toBe(0);
  }, 60_000);
});
