/** The one way a unary gRPC handler answers: the value `f` gives, or the status its error maps to. */
import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import { grpcStatusOf, type GrpcStatusOf } from "./errors.js";

/** Runs `f` and answers the unary call with its value or the mapped error (`statusOf`: a service's own errors first). */
export function unary<Req, Res>(f: (req: Req) => Promise<Res> | Res, statusOf: (err: unknown) => GrpcStatusOf = grpcStatusOf) {
  return (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>): void => {
    Promise.resolve()
      .then(() => f(call.request))
      .then(
        (res) => cb(null, res),
        (err) => {
          const s = statusOf(err);
          cb({ code: s.code, details: s.details, ...(s.metadata ? { metadata: s.metadata } : {}) });
        },
      );
  };
}
