export {
  NIC_MODELS,
  DEFAULT_NIC_MODEL,
  NicMode,
  UnknownNicModelError,
  NicModeError,
  nicModel,
  usableRings,
  parseNicMode,
  type NicModel,
} from "./models.js";
export { nicInterfaceSpec, ifnetTopology, ifnetUnsteered, ifUnit, defaultIfAddress, IfnetConfigError, type IfnetConfig } from "./ifnet.js";
export { Impairment, checkImpair, ImpairConfigError, type ImpairConfig } from "./impair.js";
export { IntrModerator, moderationFor, ModerationConfigError, type ModerationConfig } from "./moderation.js";
export { Nic, NicIfStats, NicDrop, NIC_MAX_FRAME_DEFAULT, type NicOptions, type NicDropReason } from "./nic.js";
export { nicMetrics, serveNicMetrics } from "./metrics.js";
export { startNic, type StartNicOptions, type NicHandle } from "./device.js";
export { main, nicConfigFromEnv, parseIfAddrs, NicEnvError, type NicProcessConfig } from "./main.js";
export { TunDevice, TunError, TunDrop, TUN_ADDR_DEFAULT, checkTunName, checkTunAddr, type TunOptions, type TunDropReason } from "./tun.js";
export { startTunWire, parseWireSpecs, PcapFile, WireSpecError, type TunWire, type TunWireSpec, type TunWireOptions } from "./tunwire.js";
