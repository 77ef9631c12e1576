import { UsageError, type CliIO, type Command } from "./command.js";
import { commands } from "./registry.js";

function help(io: CliIO): void {
  io.stdout("dfly — DragonFlyBSD's network stack as microservices\n\nCommands:\n");
  for (const c of commands) io.stdout(`  dfly ${c.path.join(" ").padEnd(20)} ${c.summary}\n`);
}

/** Finds the command with the longest matching path and runs it. */
export async function dispatch(argv: string[], io: CliIO, table: Command[] = commands): Promise<number> {
  if (argv.length === 0 || argv[0] === "help" || argv[0] === "--help" || argv[0] === "-h") {
    help(io);
    return argv.length === 0 ? 2 : 0;
  }
  let best: Command | undefined;
  for (const c of table) {
    if (c.path.length <= argv.length && c.path.every((w, i) => argv[i] === w)) {
      if (!best || c.path.length > best.path.length) best = c;
    }
  }
  if (!best) {
    io.stderr(`dfly: unknown command "${argv.join(" ")}"; run "dfly help"\n`);
    return 2;
  }
  const rest = argv.slice(best.path.length);
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout(`usage: ${best.usage}\n`);
    return 0;
  }
  try {
    return await best.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`dfly ${best.path.join(" ")}: ${err.message}\nusage: ${best.usage}\n`);
      return 2;
    }
    const e = err as Error;
    io.stderr(`dfly ${best.path.join(" ")}: ${e.message}\n`);
    return 1;
  }
}
