import type { Command } from "./command.js";
import { benchConnectCommands } from "./commands/bench-connect.js";
import { benchCoreCommands } from "./commands/bench-core.js";
import { benchForwardCommands } from "./commands/bench-forward.js";
import { benchTcpMemCommands } from "./commands/bench-tcpmem.js";
import { benchTunCommands } from "./commands/bench-tun.js";
import { controlCommands } from "./commands/control.js";
import { experimentCommands } from "./commands/experiment.js";
import { httpCommands } from "./commands/http.js";
import { ifconfigCommands } from "./commands/ifconfig.js";
import { ipfwCommands } from "./commands/ipfw.js";
import { loadCommands } from "./commands/load.js";
import { netstatCommands } from "./commands/netstat.js";
import { netstatAnCommands } from "./commands/netstat-an.js";
import { packetCommands } from "./commands/packet.js";
import { pcapCommands } from "./commands/pcap.js";
import { pktgenCommands } from "./commands/pktgen.js";
import { replayCommands } from "./commands/replay.js";
import { routeCommands } from "./commands/route.js";
import { sysctlCommands } from "./commands/sysctl.js";
import { runCommands } from "./commands/run.js";
import { rssCommands } from "./commands/rss.js";
import { upCommands } from "./commands/up.js";

/**
 * Every command module is listed here, one line each. Keep the list sorted
 * by command path.
 */
export const commands: Command[] = [
  ...benchConnectCommands,
  ...benchCoreCommands,
  ...benchForwardCommands,
  ...httpCommands,
  ...benchTcpMemCommands,
  ...benchTunCommands,
  ...controlCommands,
  ...experimentCommands,
  ...ifconfigCommands,
  ...ipfwCommands,
  ...loadCommands,
  ...netstatCommands,
  ...netstatAnCommands,
  ...packetCommands,
  ...pcapCommands,
  ...pktgenCommands,
  ...replayCommands,
  ...routeCommands,
  ...sysctlCommands,
  ...runCommands,
  ...rssCommands,
  ...upCommands,
];
