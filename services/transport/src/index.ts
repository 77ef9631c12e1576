export type {
  Msg,
  MsgHandler,
  Subscription,
  Transport,
  PublishOptions,
  RequestOptions,
  KvEntry,
  KvStore,
} from "./transport.js";
export { subjects } from "./subjects.js";
export {
  RequestTimeoutError,
  NoRespondersError,
  TransportClosedError,
  BadSubjectError,
  KvExistsError,
  KvBadKeyError,
} from "./errors.js";
export { checkSubject, subjectMatches, kvKey, kvKeyDecode } from "./subject.js";
export {
  FRAME_BATCH_MAGIC,
  FRAME_BATCH_VERSION,
  BATCH_HEADER_BYTES,
  FRAME_HEADER_BYTES,
  MAX_FRAME_LENGTH,
  MAX_BATCH_FRAMES,
  MAX_BATCH_BYTES,
  DEFAULT_BATCH_BYTES,
  FrameBatchDrop,
  type FrameBatchDropReason,
  type FrameVisitor,
  validateFrameBatch,
  frameBatchCount,
  forEachFrame,
  FrameBatchCursor,
  FrameBatchWriter,
  compactFrameBatch,
  encodeFrameBatch,
  decodeFrameBatch,
} from "./framebatch.js";
export { MemKv } from "./memkv.js";
export { InprocHub, InprocTransport, connectInproc, type InprocLink } from "./inproc.js";
export { NatsTransport, NatsKv, type NatsTransportOptions } from "./nats.js";
export { createTransport, defaultHub, natsAuthFromEnv, type TransportConfig } from "./factory.js";
