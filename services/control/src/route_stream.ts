/** The streaming route calls: the table out in chunks (StreamRoutes), a bulk load in (LoadRoutes). Never one giant message. */
import type { sendUnaryData, ServerReadableStream, ServerWritableStream } from "@grpc/grpc-js";
import type { LoadRoutesRequest, LoadRoutesResponse, RouteChunk, StreamRoutesRequest } from "./gen/dfly/netstack/v1/route.js";
import { grpcStatusOf } from "./errors.js";
import { RouteLoadParser } from "./routeload.js";
import type { RouteManager } from "./routes.js";
import { routeProtoOf } from "./routespec.js";

/** Most routes one ListRoutes answer carries (about 0.4 MB; the gRPC limit is 4 MB). */
export const LIST_LIMIT = 10_000;
/** Routes per RouteChunk of `route show`. */
const SHOW_CHUNK = 2048;

async function writeAll(call: ServerWritableStream<StreamRoutesRequest, RouteChunk>, chunks: Iterable<RouteChunk>): Promise<void> {
  for (const c of chunks) {
    if (call.cancelled) return;
    if (!call.write(c)) await new Promise<void>((res) => call.once("drain", res));
  }
}

export function streamRoutesCall(routes: RouteManager, call: ServerWritableStream<StreamRoutesRequest, RouteChunk>): void {
  const req = call.request;
  void (async () => {
    try {
      if (req.compact && req.unlessDigest !== "" && req.unlessDigest === routes.digest()) {
        call.write({ routes: [], records: Buffer.alloc(0), revision: routes.revision, digest: req.unlessDigest, total: routes.size });
      } else if (req.compact && !req.prefix && !req.limit) {
        const s = routes.snapshot();
        const base = { routes: [], revision: s.revision, digest: s.digest, total: s.total };
        const chunks = s.chunks.length > 0 ? s.chunks : [new Uint8Array(0)];
        await writeAll(call, (function* () {
          for (const lines of chunks) yield { ...base, records: Buffer.from(lines.buffer, lines.byteOffset, lines.byteLength) };
        })());
      } else {
        const l = routes.list(req.limit || Infinity, req.prefix);
        const base = { records: Buffer.alloc(0), revision: l.revision, digest: l.digest, total: l.total };
        await writeAll(call, (function* () {
          if (l.routes.length === 0) yield { ...base, routes: [] };
          for (let i = 0; i < l.routes.length; i += SHOW_CHUNK) yield { ...base, routes: l.routes.slice(i, i + SHOW_CHUNK).map(routeProtoOf) };
        })());
      }
      call.end();
    } catch (err) {
      const s = grpcStatusOf(err);
      call.destroy(Object.assign(new Error(s.details), { code: s.code, details: s.details }));
    }
  })();
}

export function loadRoutesCall(routes: RouteManager, call: ServerReadableStream<LoadRoutesRequest, LoadRoutesResponse>, cb: sendUnaryData<LoadRoutesResponse>): void {
  let parser: RouteLoadParser | undefined;
  let failed = false;
  const fail = (err: unknown) => {
    if (failed) return;
    failed = true;
    const s = grpcStatusOf(err);
    cb({ code: s.code, details: s.details });
  };
  call.on("data", (m: LoadRoutesRequest) => {
    if (failed) return;
    try {
      parser ??= new RouteLoadParser({ gateway: m.gateway, ifname: m.ifname, metric: m.metric });
      parser.push(m.lines);
    } catch (err) {
      fail(err);
    }
  });
  call.on("error", fail);
  call.on("end", () => {
    if (failed) return;
    let specs;
    try {
      specs = parser ? parser.end() : [];
    } catch (err) {
      return fail(err);
    }
    routes.loadRoutes(specs).then(
      (r) =>
        cb(null, {
          loaded: r.loaded,
          replaced: r.replaced,
          skippedIpv6: parser?.skippedIpv6 ?? 0,
          revision: r.revision,
          appliedCpus: r.applied,
          pendingCpus: r.pending,
          status: r.status,
          storeMs: r.storeMs,
          applyMs: r.applyMs,
          cpuMs: r.cpuMs,
          tableSize: r.tableSize,
        }),
      fail,
    );
  });
}
