export type { Msg, MsgHandler, Subscription, Transport, KvEntry, KvStore } from "./transport.js";
export { subjects, DEFAULT_CLUSTER } from "./subjects.js";
