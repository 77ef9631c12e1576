export {
  FlowSet,
  Pktgen,
  PktgenConfigError,
  PKTGEN_MAGIC,
  PKTGEN_MIN_SIZE,
  PKTGEN_MAX_SIZE,
  stampNowUs,
  type FlowSetOptions,
  type PktgenOptions,
} from "./pktgen.js";
export { Sink, SinkCounter, lossReport, LATENCY_BUCKETS, type SinkOptions, type SinkSummary, type LossReport } from "./sink.js";
