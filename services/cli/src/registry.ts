import type { Command } from "./command.js";
import { benchCoreCommands } from "./commands/bench-core.js";
import { pcapCommands } from "./commands/pcap.js";
import { rssCommands } from "./commands/rss.js";

/**
 * Every command module is listed here, one line each. Keep the list sorted
 * by command path.
 */
export const commands: Command[] = [
  ...benchCoreCommands,
  ...pcapCommands,
  ...rssCommands,
];
