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
export { ifnetTopology, ifUnit, defaultIfAddress, rssKeyHex, IfnetConfigError, type IfnetConfig } from "./ifnet.js";
