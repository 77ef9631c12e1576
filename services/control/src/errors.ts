/** Control-plane failures, one class each (STYLE.md §7), and their gRPC status (core's RouteErrors too). */
import { status, Metadata } from "@grpc/grpc-js";
import {
  RouteAttributeError,
  RouteExistsError,
  RouteHostBitsError,
  RouteNoNextHopError,
  RouteNotFoundError,
  RoutePrefixLengthError,
  RoutePrefixSyntaxError,
  RouteTableFullError,
  RingmapConfigError,
  SysctlUnknownError,
  SysctlValueError,
} from "@dfly/core";

/** A required request field is missing or malformed (not a route error). */
export class BadRequestError extends Error {
  override readonly name = "BadRequestError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A route names an interface no NIC registered. */
export class UnknownInterfaceError extends Error {
  override readonly name = "UnknownInterfaceError";
  constructor(
    readonly ifname: string,
    readonly known: readonly string[],
  ) {
    super(`unknown interface "${ifname}" (known: ${known.length ? known.join(", ") : "none registered"})`);
  }
}

/** A gateway that no registered interface's subnet contains (DragonFly: ENETUNREACH). */
export class GatewayUnreachableError extends Error {
  override readonly name = "GatewayUnreachableError";
  constructor(
    readonly gateway: string,
    readonly prefix: string,
  ) {
    super(`route ${prefix}: gateway ${gateway} is not on a connected network`);
  }
}

export interface CpuFailure {
  cpu: number;
  reason: string;
}

/** A committed change that some live CPUs did not confirm. */
export class CpuApplyError extends Error {
  override readonly name = "CpuApplyError";
  constructor(
    readonly op: string,
    readonly failures: readonly CpuFailure[],
    readonly applied: readonly number[],
  ) {
    super(`${op}: not applied on ${failures.map((f) => `cpu ${f.cpu} (${f.reason})`).join(", ")}; applied on [${applied.join(",")}]`);
  }
}

/** A heartbeat or deregister from a CPU the control does not know. */
/** The route store refused a write: the change was not stored (and not applied anywhere). */
export class RouteNotStoredError extends Error {
  override readonly name = "RouteNotStoredError";
  constructor(what: string, options?: ErrorOptions) {
    super(`${what}: not stored: ${(options?.cause as Error | undefined)?.message ?? "store failed"}`, options);
  }
}

export class UnknownCpuError extends Error {
  override readonly name = "UnknownCpuError";
  constructor(readonly cpu: number) {
    super(`cpu ${cpu} is not registered`);
  }
}

/** An RPC this control does not implement. */
export class NotImplementedError extends Error {
  override readonly name = "NotImplementedError";
  constructor(readonly rpc: string) {
    super(`${rpc} is not implemented yet (socket layer, issue 4)`);
  }
}

/** The address is taken by a listener that does not share it (EADDRINUSE). */
export class ListenerAddrInUseError extends Error {
  override readonly name = "ListenerAddrInUseError";
  constructor(
    readonly address: string,
    readonly port: number,
    readonly holder: string,
  ) {
    super(`${address}:${port} is already in use by listener ${holder} (both need SO_REUSEPORT to share it)`);
  }
}

/** No listener with this id. */
export class ListenerNotFoundError extends Error {
  override readonly name = "ListenerNotFoundError";
  constructor(readonly id: string) {
    super(`no listener ${id}`);
  }
}

export interface GrpcStatusOf {
  code: status;
  details: string;
  metadata?: Metadata;
}

/** Longest status text: a message quoting a huge input would not fit the trailers, and the call would never be answered. */
export const STATUS_DETAILS_MAX = 240;

/** The status an error maps to; unknown errors are INTERNAL. */
export function grpcStatusOf(err: unknown): GrpcStatusOf {
  const e = err as Error;
  const full = e?.message ?? String(err);
  const details = full.length > STATUS_DETAILS_MAX ? `${full.slice(0, STATUS_DETAILS_MAX)}… (${full.length} chars)` : full;
  if (
    err instanceof RoutePrefixSyntaxError ||
    err instanceof RoutePrefixLengthError ||
    err instanceof RouteHostBitsError ||
    err instanceof RouteAttributeError ||
    err instanceof RouteNoNextHopError ||
    err instanceof BadRequestError ||
    err instanceof RingmapConfigError ||
    err instanceof SysctlUnknownError ||
    err instanceof SysctlValueError
  ) {
    return { code: status.INVALID_ARGUMENT, details };
  }
  if (err instanceof RouteExistsError || err instanceof ListenerAddrInUseError) return { code: status.ALREADY_EXISTS, details };
  if (err instanceof ListenerNotFoundError) return { code: status.NOT_FOUND, details };
  if (err instanceof RouteNotFoundError || err instanceof UnknownInterfaceError) return { code: status.NOT_FOUND, details };
  if (err instanceof GatewayUnreachableError) return { code: status.FAILED_PRECONDITION, details };
  if (err instanceof RouteTableFullError) return { code: status.RESOURCE_EXHAUSTED, details };
  if (err instanceof UnknownCpuError) return { code: status.NOT_FOUND, details };
  if (err instanceof NotImplementedError) return { code: status.UNIMPLEMENTED, details };
  if (err instanceof RouteNotStoredError) return { code: status.UNAVAILABLE, details };
  if (err instanceof CpuApplyError) {
    const metadata = new Metadata();
    metadata.set("dfly-failed-cpus", err.failures.map((f) => f.cpu).join(","));
    metadata.set("dfly-applied-cpus", err.applied.join(","));
    return { code: status.UNAVAILABLE, details, metadata };
  }
  return { code: status.INTERNAL, details };
}
