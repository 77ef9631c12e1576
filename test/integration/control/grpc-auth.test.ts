// The control's gRPC API over a real socket: TLS (a wrong CA refused), mTLS, the token on mutating calls, and every RPC fuzzed (typed status within the deadline, short texts, digest unchanged).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { ControlClient, startControl, type ControlAuth, type ControlHandle } from "@dfly/control";
import { makeLocalPki, type LocalPki } from "@dfly/cli";
import { InprocHub } from "@dfly/transport";

const TOKEN = "s3cret-token-for-tests";

async function fails(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as ServiceError;
  }
  throw new Error("expected the call to fail");
}

describe("control gRPC: TLS, mTLS and the token", () => {
  let dir: string;
  let pki: LocalPki;
  let other: LocalPki;
  const hubs: InprocHub[] = [];
  const controls: ControlHandle[] = [];
  const clients: ControlClient[] = [];

  const start = async (auth: ControlAuth) => {
    const hub = new InprocHub();
    hubs.push(hub);
    const c = await startControl({ transport: await hub.connect(), grpcHost: "127.0.0.1", grpcPort: 0, applyTimeoutMs: 200, auth });
    controls.push(c);
    return c;
  };
  const client = (addr: string, a: ConstructorParameters<typeof ControlClient>[2], deadlineMs = 3000) => {
    const c = new ControlClient(addr, deadlineMs, a);
    clients.push(c);
    return c;
  };
  const tls = () => ({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "security-pki-"));
    pki = makeLocalPki(dir);
    other = makeLocalPki(mkdtempSync(join(dir, "other-")), "some-other-ca");
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const c of controls) await c.stop(100);
    for (const h of hubs) h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("TLS + token: without the token UNAUTHENTICATED and nothing changes; with it the route is added; a wrong CA is refused", async () => {
    const c = await start({ tls: tls(), token: TOKEN });
    const ca = readFileSync(pki.ca);
    const anon = client(c.grpcAddr, { ca });
    const digest = c.parts.routes.digest();
    for (const f of [() => anon.addRoute({ prefix: "10.0.0.0/8", ifname: "ix0" }), () => anon.register(5, ""), () => anon.deregister(0), () => anon.listRoutes()]) {
      expect((await fails(f())).code).toBe(status.UNAUTHENTICATED);
    }
    expect(c.parts.routes.digest()).toBe(digest);
    expect(c.parts.cluster.liveCpus()).toEqual([]);
    const wrongToken = client(c.grpcAddr, { ca, token: "nope" });
    expect((await fails(wrongToken.addRoute({ prefix: "10.0.0.0/8", gateway: "192.0.2.1" }))).code).toBe(status.UNAUTHENTICATED);
    const ok = client(c.grpcAddr, { ca, token: TOKEN });
    expect((await ok.addRoute({ prefix: "10.0.0.0/8", gateway: "192.0.2.1" })).revision).toBeGreaterThan(0);
    expect((await ok.listRoutes()).routes.map((r) => r.prefix)).toEqual(["10.0.0.0/8"]);
    const wrongCa = client(c.grpcAddr, { ca: readFileSync(other.ca), token: TOKEN }, 1500);
    // The handshake fails, so the call never reaches the server (the client waits for a ready channel until its deadline).
    const unreached = [status.UNAVAILABLE, status.DEADLINE_EXCEEDED];
    expect(unreached).toContain((await fails(wrongCa.addRoute({ prefix: "10.9.0.0/16", gateway: "192.0.2.1" }))).code);
    const plain = client(c.grpcAddr, { token: TOKEN }, 1500);
    expect(unreached).toContain((await fails(plain.addRoute({ prefix: "10.9.0.0/16", gateway: "192.0.2.1" }))).code);
    expect(c.parts.routes.list().routes.map((r) => r.prefix)).toEqual(["10.0.0.0/8"]);
  });

  it("reads may be opened separately; mutating calls still need the token", async () => {
    const c = await start({ token: TOKEN, openReads: true });
    const anon = client(c.grpcAddr, {});
    expect((await anon.listRoutes()).routes).toEqual([]);
    expect((await fails(anon.addRoute({ prefix: "10.0.0.0/8", gateway: "192.0.2.1" }))).code).toBe(status.UNAUTHENTICATED);
    expect((await fails(anon.heartbeat(0, 0))).code).toBe(status.UNAUTHENTICATED);
  });

  it("mTLS: a client certificate from the CA authenticates without a token; without one the handshake fails", async () => {
    const c = await start({ tls: { ...tls(), clientCa: readFileSync(pki.ca) }, token: TOKEN });
    const ca = readFileSync(pki.ca);
    const withCert = client(c.grpcAddr, { ca, cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) });
    expect((await withCert.register(3, "")).topology?.cpus).toEqual([3]);
    const noCert = client(c.grpcAddr, { ca, token: TOKEN }, 1500);
    expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain((await fails(noCert.register(4, ""))).code);
    expect(c.parts.cluster.liveCpus()).toEqual([3]);
  });

  it("fuzz: every unary RPC with random, oversized and unknown-field bytes answers a typed status within the deadline, quotes a short text, and a rejected call changes nothing", async () => {
    const c = await start({ token: TOKEN });
    await client(c.grpcAddr, { token: TOKEN }).addRoute({ prefix: "10.0.0.0/8", gateway: "192.0.2.1" });
    const raw = new Client(c.grpcAddr, credentials.createInsecure());
    const md = new Metadata();
    md.set("authorization", `Bearer ${TOKEN}`);
    const rpcs = [
      "RouteService/AddRoute",
      "RouteService/DeleteRoute",
      "RouteService/GetRoute",
      "RouteService/ListRoutes",
      "RouteService/VerifyRoutes",
      "ClusterService/Register",
      "ClusterService/Heartbeat",
      "ClusterService/Deregister",
      "ClusterService/RegisterInterface",
      "ClusterService/GetTopology",
      "StatsService/GetStats",
      "StatsService/ListPcbs",
      "SocketService/Listen",
      "SocketService/CloseListener",
      "SocketService/ListListeners",
    ];
    const call = (rpc: string, body: Buffer) =>
      new Promise<{ err: ServiceError | null; ms: number }>((res) => {
        const t0 = Date.now();
        raw.makeUnaryRequest(`/dfly.netstack.v1.${rpc}`, (b: Buffer) => b, (b: Buffer) => b, body, md, { deadline: Date.now() + 3000 }, (err) => res({ err, ms: Date.now() - t0 }));
      });
    // Protobuf pieces: field 1 as a string (prefix / listener id / …), negative varints, an unknown field 99, and 256 KB strings.
    const varint = (n: bigint) => {
      const out: number[] = [];
      let v = BigInt.asUintN(64, n);
      do {
        out.push(Number(v & 0x7fn) | (v > 0x7fn ? 0x80 : 0));
        v >>= 7n;
      } while (v > 0n);
      return Buffer.from(out);
    };
    const str = (field: number, s: string) => Buffer.concat([varint(BigInt((field << 3) | 2)), varint(BigInt(Buffer.byteLength(s))), Buffer.from(s)]);
    const num = (field: number, n: bigint) => Buffer.concat([varint(BigInt(field << 3)), varint(n)]);
    const piece = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
      fc.tuple(fc.integer({ min: 1, max: 12 }), fc.string({ maxLength: 40 })).map(([f, s]) => str(f, s)),
      fc.tuple(fc.integer({ min: 1, max: 12 }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n })).map(([f, n]) => num(f, n)),
      fc.constant(num(99, 7n)),
      fc.constant(str(1, "x".repeat(256 * 1024))),
    );
    const snap = () => JSON.stringify([c.parts.routes.digest(), c.parts.routes.revision, c.parts.cluster.topology()]);
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...rpcs), fc.array(piece, { maxLength: 4 }), async (rpc, parts) => {
        const before = snap();
        const { err, ms } = await call(rpc, Buffer.concat(parts));
        expect(ms).toBeLessThan(3000);
        if (err) {
          rejected++;
          expect(err.code).not.toBe(status.DEADLINE_EXCEEDED);
          expect(err.code).toBeGreaterThan(0);
          expect(err.details.length).toBeLessThanOrEqual(300);
          // A fan-out that reached no CPU (UNAVAILABLE) is committed by design; every other refusal changes nothing.
          if (err.code !== status.UNAVAILABLE) expect(snap()).toBe(before);
        }
      }),
      { numRuns: 120 },
    );
    expect(rejected).toBeGreaterThan(10);
    raw.close();
    // A 256 KB prefix through the ordinary client: INVALID_ARGUMENT at once with a short text, and the connection keeps serving.
    const ok = client(c.grpcAddr, { token: TOKEN });
    const big = await fails(ok.addRoute({ prefix: "1".repeat(256 * 1024), gateway: "192.0.2.1" }));
    expect(big.code).toBe(status.INVALID_ARGUMENT);
    expect(big.details.length).toBeLessThanOrEqual(300);
    expect((await ok.listRoutes()).routes.length).toBeGreaterThanOrEqual(0);
  });
});
