/** Programs that run in a netisr CPU's thread (embedded mode), using its sockets directly, as nginx workers bound with SO_CPUHINT. */
import type { Transport } from "@dfly/transport";
import type { TcpNetisr } from "./tcp_netisr.js";

export interface ProgramSpec {
  /** A file URL or absolute path of an ES module (compiled JavaScript). */
  module: string;
  /** The factory's export name. */
  export: string;
  /** Passed as `ctx.options`. */
  options?: unknown;
}

export interface ProgramContext {
  /** This CPU's TCP (`tcp.sockets(owner)` gives the program its sockets API). */
  tcp: TcpNetisr;
  cpu: number;
  cluster: string;
  transport: Transport;
  options: unknown;
}

export interface Program {
  snapshot?(): unknown;
  call?(method: string, args: unknown[]): unknown;
  stop?(): void | Promise<void>;
}

export type ProgramFactory = (ctx: ProgramContext) => Program | Promise<Program>;

/** A program spec that names a bad module or export. */
export class ProgramLoadError extends Error {
  override readonly name = "ProgramLoadError";
  constructor(
    readonly spec: ProgramSpec,
    why: string,
  ) {
    super(`program ${spec.module}#${spec.export}: ${why}`);
  }
}

export async function loadProgram(spec: ProgramSpec, ctx: Omit<ProgramContext, "options">): Promise<Program> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec.module)) as Record<string, unknown>;
  } catch (err) {
    throw new ProgramLoadError(spec, `import failed: ${(err as Error).message}`);
  }
  const f = mod[spec.export];
  if (typeof f !== "function") throw new ProgramLoadError(spec, "no such function export");
  return (f as ProgramFactory)({ ...ctx, options: spec.options });
}
