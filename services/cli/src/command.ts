/**
 * The shape every `dfly` sub-command has. Commands write through `io` (never to
 * `process.stdout` directly) so tests can drive them without spawning a process.
 */
export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Whole of standard input, read lazily (only commands that need it call it). */
  stdin: () => Promise<string>;
}

export interface Command {
  /** Words that select the command, e.g. ["rss", "hash"]. */
  readonly path: readonly string[];
  readonly summary: string;
  readonly usage: string;
  /** Returns the process exit code. */
  run(argv: string[], io: CliIO): Promise<number>;
}

/** A usage mistake: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
