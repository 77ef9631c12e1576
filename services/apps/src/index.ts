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
export { HttpdWorker, HttpdStats, httpdResponse, HTTPD_OBJECT_SIZE, HTTPD_MAX_REQUEST, type HttpdWorkerOptions } from "./httpd.js";
export {
  HttpClientHost,
  HttpClientStats,
  LatencyHistogram,
  parseResponseHead,
  type HttpClientHostOptions,
  type LatencySummary,
} from "./httpclient.js";
export { HttpServerHost, httpdProgram, httpdProgramModule, type HttpServerHostOptions, type HttpdProgramOptions } from "./httpd.js";
export {
  runHttpShortDirect,
  httpClientAddrs,
  httpdTotalsRow,
  HTTP_SERVER_ADDR,
  HTTP_SHORT_TCP,
  type HttpShortCommon,
  type HttpShortReport,
  type HttpShortCpuRow,
  type HttpShortDirectOptions,
} from "./httpwire.js";
export {
  clientSnapshot,
  latencyFromSnapshot,
  httpClientWorkerPath,
  type HttpClientWorkerData,
  type HttpClientSnapshot,
  type HttpClientWorkerCommand,
  type HttpClientWorkerEvent,
} from "./httpclient_worker.js";
export { runHttpShortDirectIsolated, type HttpShortDirectWorkerData } from "./httpwire_worker.js";
export { ServeWorker, ServeStats, serveProgram, serveProgramModule, parseServeRequest, serveRoute, servePatternAt, SERVE_PATTERN, SERVE_ROOT_SIZE, type ServeOptions, type ServeRequest } from "./serve.js";
export { udpEcho, UDP_ECHO_PORT, type UdpEcho } from "./udp_echo.js";
