import type { Command } from "./command.js";
import { rssCommands } from "./commands/rss.js";

/**
 * Every command module is listed here, one line each. Keep the list sorted
 * by command path.
 */
export const commands: Command[] = [
  ...rssCommands,
];
