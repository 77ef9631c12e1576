export { dispatch } from "./dispatch.js";
export { commands } from "./registry.js";
export { UsageError, type CliIO, type Command } from "./command.js";
export { runHttpShort, formatHttpShortReport, type HttpShortRunOptions, type HttpShortRunReport } from "./embedded/http.js";
export { EmbeddedCluster, type EmbeddedOptions } from "./embedded/cluster.js";
export { measureTcpMemory, type TcpMemResult } from "./bench/tcpmem.js";
export { durationArg, LoadArgError, Progress, resolveTarget, type LoadTarget } from "./load/target.js";
export { makeLocalPki, CertGenError, type LocalPki } from "./local/certs.js";
export { natsPermissions, natsAuthConf, NatsRoles, type NatsRole, type NatsPermissions } from "./local/secure.js";
