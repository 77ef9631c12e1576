export { dispatch } from "./dispatch.js";
export { commands } from "./registry.js";
export { UsageError, type CliIO, type Command } from "./command.js";
