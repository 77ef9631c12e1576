/** Progress of an experiment run on stderr: a bar redrawn in place on a terminal, one plain line per sample otherwise. */
import type { CliIO } from "../command.js";

const WIDTH = 30;

export class ExperimentProgress {
  private done = 0;
  private readonly t0 = performance.now();
  constructor(
    private readonly io: CliIO,
    private readonly total: number,
    private readonly tty: boolean,
  ) {}

  /** A sample is about to start. */
  starting(label: string): void {
    if (this.tty) this.draw(label);
  }

  /** A sample finished with `result` (e.g. "1234 transactions/s"). */
  finished(label: string, result: string): void {
    this.done++;
    if (this.tty) this.draw(label);
    else this.io.stderr(`[${this.done}/${this.total}] ${label}: ${result}\n`);
  }

  end(): void {
    if (this.tty) this.io.stderr("\n");
  }

  private draw(label: string): void {
    const fill = Math.round((this.done / this.total) * WIDTH);
    const s = Math.round((performance.now() - this.t0) / 1000);
    this.io.stderr(`\r\x1b[K[${"#".repeat(fill)}${"-".repeat(WIDTH - fill)}] ${this.done}/${this.total} ${s}s ${label}`);
  }
}
