/**
 * The paper's lessons as experiments (src/experiment/):
 *
 *   dfly experiment list [--json]
 *   dfly experiment run NAME|all [--quick] [--repeat N] [--transport embedded|nats] [--out DIR]
 *   dfly experiment report DIR
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError, type CliIO, type Command } from "../command.js";
import { intOpt } from "../flags.js";
import { EXPERIMENTS, selectExperiments, UnknownExperimentError, type Transport } from "../experiment/catalog.js";
import { ExperimentProgress } from "../experiment/progress.js";
import { runExperiments, samplesPerRun } from "../experiment/runner.js";
import { writeReport } from "../experiment/report.js";

type Opts = NonNullable<ParseArgsConfig["options"]>;

function parseWithPositionals<const O extends Opts>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true as const, strict: true as const });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Default rounds per condition: 5 (--quick: 2). */
export const EXPERIMENT_REPEAT_DEFAULT = 5;
export const EXPERIMENT_REPEAT_QUICK = 2;

const listCommand: Command = {
  path: ["experiment", "list"],
  summary: "the paper's lessons as experiments: names and what each compares",
  usage: "dfly experiment list [--json]",
  async run(argv, io) {
    const { values, positionals } = parseWithPositionals(argv, { json: { type: "boolean", default: false } });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const rows = EXPERIMENTS.map((e) => ({
      name: e.name,
      compares: e.compares,
      conditions: e.conditions.map((c) => c.name),
      metric: e.metric,
      unit: e.unit,
      paperSection: e.paperSection,
      paperClaim: e.paperClaim,
      paperEffect: e.paperEffect,
      transports: [...e.transports],
    }));
    if (values.json) {
      io.stdout(JSON.stringify(rows, null, 2) + "\n");
      return 0;
    }
    for (const r of rows) io.stdout(`${r.name.padEnd(15)} ${r.paperSection.padEnd(20)} ${r.conditions.join(" vs ")} (${r.metric})\n${" ".repeat(16)}${r.compares}\n`);
    return 0;
  },
};

const runCommand: Command = {
  path: ["experiment", "run"],
  summary: "run one experiment (or all): DIR/NAME/results.json and NAME.svg",
  usage:
    "dfly experiment run NAME|all [--quick] [--repeat N] [--transport embedded|nats] [--out DIR] [--progress]\n" +
    `  each condition ${EXPERIMENT_REPEAT_DEFAULT} times (--quick: ${EXPERIMENT_REPEAT_QUICK}, short samples), alternated; --out default ./experiments`,
  async run(argv, io) {
    const { values, positionals } = parseWithPositionals(argv, {
      quick: { type: "boolean", default: false },
      repeat: { type: "string" },
      transport: { type: "string" },
      out: { type: "string" },
      progress: { type: "boolean", default: false },
    });
    if (positionals.length !== 1) throw new UsageError(`want one experiment name or "all" (${EXPERIMENTS.map((e) => e.name).join(", ")})`);
    let defs;
    try {
      defs = selectExperiments(positionals[0]);
    } catch (err) {
      if (err instanceof UnknownExperimentError) throw new UsageError(err.message);
      throw err;
    }
    const quick = values.quick === true;
    const repeat = intOpt("repeat", values.repeat as string | undefined, 1, 100) ?? (quick ? EXPERIMENT_REPEAT_QUICK : EXPERIMENT_REPEAT_DEFAULT);
    const t = (values.transport as string | undefined) ?? "embedded";
    if (t !== "embedded" && t !== "nats") throw new UsageError(`--transport ${t}: want embedded | nats`);
    const transport: Transport = t;
    if (positionals[0] === "all") defs = defs.filter((d) => d.transports.includes(transport));
    else if (!defs[0].transports.includes(transport)) throw new UsageError(`${defs[0].name} runs over ${defs[0].transports.join(" | ")}`);
    const out = (values.out as string | undefined) ?? "experiments";
    const tty = values.progress === true || process.stderr.isTTY === true;
    const progress = new ExperimentProgress(io, samplesPerRun(defs, repeat), tty);
    let results;
    try {
      results = await runExperiments(defs, { quick, repeat, transport, out, progress });
    } finally {
      progress.end();
    }
    for (const r of results) {
      io.stdout(
        `${r.experiment.padEnd(15)} ${r.conditions.map((c) => `${c.name} ${c.median}`).join(" → ")} ${r.unit}  effect ${r.effect ?? "n/a"} (paper ${r.paperEffect})  direction ${r.directionAgrees ? "agrees" : "DISAGREES"}\n`,
      );
    }
    io.stdout(`results in ${out}/; dfly experiment report ${out}\n`);
    return 0;
  },
};

const reportCommand: Command = {
  path: ["experiment", "report"],
  summary: "DIR/report.html (plots inline) and DIR/report.md from dfly experiment run's results",
  usage: "dfly experiment report DIR",
  async run(argv: string[], io: CliIO) {
    const { positionals } = parseWithPositionals(argv, {});
    if (positionals.length !== 1) throw new UsageError("want the results directory (dfly experiment run --out DIR)");
    const r = writeReport(positionals[0]);
    io.stdout(`${r.html}\n${r.md}\n(${r.experiments.join(", ")})\n`);
    return 0;
  },
};

export const experimentCommands: Command[] = [listCommand, runCommand, reportCommand];
