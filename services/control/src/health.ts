/**
 * The control's view of NATS: a round trip to the server (flush) and a read from the topology KV
 * bucket (a JetStream stream), each bounded by a timeout. /healthz (liveness) fails while the round
 * trip fails, so a control that lost NATS is restarted; the gauges let Prometheus alert on NATS and
 * JetStream from the stack's side, with or without the NATS exporter.
 */
import { Gauge, type Registry } from "prom-client";
import type { KvStore, Transport } from "@dfly/transport";

export interface NatsHealthResult {
  readonly natsUp: boolean;
  readonly rttSeconds: number;
  readonly jetstreamUp: boolean;
  /** Undefined when both are up, else what failed. */
  readonly reason: string | undefined;
}

/** A key that is never written: reading it still needs the bucket's stream leader to answer. */
const PROBE_KEY = "health-probe";

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  p.catch(() => undefined);
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class NatsHealth {
  private last: { at: number; result: Promise<NatsHealthResult> } | undefined;

  constructor(
    private readonly transport: Transport,
    private readonly kv: KvStore,
    /** Bound on each probe; under the probe's and the scrape's timeouts. */
    private readonly timeoutMs = 1000,
    /** /healthz and a scrape close together share one probe. */
    private readonly cacheMs = 500,
  ) {}

  probe(): Promise<NatsHealthResult> {
    const now = Date.now();
    if (this.last && now - this.last.at < this.cacheMs) return this.last.result;
    const result = this.run();
    this.last = { at: now, result };
    return result;
  }

  /**
   * /healthz: undefined while the NATS round trip works — the liveness probe's answer (JetStream trouble
   * alone does not restart the control). `?jetstream=true` (helm test) also requires the KV read.
   */
  async healthz(query: URLSearchParams): Promise<string | undefined> {
    const r = await this.probe();
    if (!r.natsUp) return r.reason;
    return query.get("jetstream") === "true" && !r.jetstreamUp ? r.reason : undefined;
  }

  private async run(): Promise<NatsHealthResult> {
    const t0 = process.hrtime.bigint();
    let natsUp = true;
    let rttSeconds = 0;
    const why: string[] = [];
    try {
      await within(this.transport.flush(), this.timeoutMs, "NATS round trip");
      rttSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    } catch (err) {
      natsUp = false;
      why.push(err instanceof Error ? err.message : String(err));
    }
    let jetstreamUp = natsUp;
    if (natsUp) {
      try {
        await within(this.kv.get(PROBE_KEY), this.timeoutMs, "JetStream KV read");
      } catch (err) {
        jetstreamUp = false;
        why.push(err instanceof Error ? err.message : String(err));
      }
    } else why.push("JetStream not checked");
    return { natsUp, rttSeconds, jetstreamUp, reason: why.length ? why.join("; ") : undefined };
  }
}

/** dfly_control_nats_up, dfly_control_nats_rtt_seconds, dfly_control_jetstream_up: one probe per scrape. */
export function natsHealthMetrics(registry: Registry, health: NatsHealth): void {
  new Gauge({
    name: "dfly_control_nats_up",
    help: "1 when the control's NATS connection answers a round trip within 1 s, else 0",
    registers: [registry],
    async collect() {
      this.set((await health.probe()).natsUp ? 1 : 0);
    },
  });
  new Gauge({
    name: "dfly_control_nats_rtt_seconds",
    help: "The control's last NATS round trip (0 while it fails)",
    registers: [registry],
    async collect() {
      this.set((await health.probe()).rttSeconds);
    },
  });
  new Gauge({
    name: "dfly_control_jetstream_up",
    help: "1 when a read from the control's topology KV bucket (JetStream) answers within 1 s, else 0",
    registers: [registry],
    async collect() {
      this.set((await health.probe()).jetstreamUp ? 1 : 0);
    },
  });
}
