/**
 * The control's view of NATS: a round trip to the server (flush) and a read from the topology KV
 * bucket (a JetStream stream), each bounded by a timeout, once a second. /healthz (liveness) fails while the round
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

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`no answer within ${ms} ms`)), ms);
  });
  p.catch(() => undefined);
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Probes in the background every `periodMs` (timer unref'd), so that a scrape or a probe request
 * never waits on a dead NATS: both read the last result.
 */
export class NatsHealth {
  private last: NatsHealthResult = { natsUp: false, rttSeconds: 0, jetstreamUp: false, reason: "not probed yet" };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly transport: Transport,
    private readonly kv: KvStore,
    /** Bound on each probe. */
    private readonly timeoutMs = 1000,
    private readonly periodMs = 1000,
  ) {}

  /** Probes once now (resolves when done), then every periodMs until stop(). */
  start(): Promise<void> {
    this.timer ??= setInterval(() => void this.probeNow(), this.periodMs);
    this.timer.unref();
    return this.probeNow();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The last completed probe. */
  result(): NatsHealthResult {
    return this.last;
  }

  /**
   * /healthz: undefined while the NATS round trip works — the liveness probe's answer (JetStream trouble
   * alone does not restart the control). `?jetstream=true` (helm test) also requires the KV read.
   */
  healthz(query: URLSearchParams): Promise<string | undefined> {
    const r = this.last;
    if (!r.natsUp) return Promise.resolve(r.reason);
    return Promise.resolve(query.get("jetstream") === "true" && !r.jetstreamUp ? r.reason : undefined);
  }

  /** One probe at a time: a call while one runs shares it. */
  probeNow(): Promise<void> {
    this.running ??= this.run().then((r) => {
      this.last = r;
      this.running = undefined;
    });
    return this.running;
  }

  private async run(): Promise<NatsHealthResult> {
    const t0 = process.hrtime.bigint();
    let natsUp = true;
    let rttSeconds = 0;
    const why: string[] = [];
    try {
      await within(this.transport.flush(), this.timeoutMs);
      rttSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    } catch (err) {
      natsUp = false;
      why.push(`NATS round trip: ${err instanceof Error ? err.message : String(err)}`);
    }
    let jetstreamUp = natsUp;
    if (natsUp) {
      try {
        await within(this.kv.get(PROBE_KEY), this.timeoutMs);
      } catch (err) {
        jetstreamUp = false;
        why.push(`JetStream KV read: ${err instanceof Error ? err.message : String(err)}`);
      }
    } else why.push("JetStream not checked");
    return { natsUp, rttSeconds, jetstreamUp, reason: why.length ? why.join("; ") : undefined };
  }
}

/** dfly_control_nats_up, dfly_control_nats_rtt_seconds, dfly_control_jetstream_up: the last probe's result. */
export function natsHealthMetrics(registry: Registry, health: NatsHealth): void {
  new Gauge({
    name: "dfly_control_nats_up",
    help: "1 when the control's last NATS round trip (one a second) answered within 1 s, else 0",
    registers: [registry],
    collect() {
      this.set(health.result().natsUp ? 1 : 0);
    },
  });
  new Gauge({
    name: "dfly_control_nats_rtt_seconds",
    help: "The control's last NATS round trip (0 while it fails)",
    registers: [registry],
    collect() {
      this.set(health.result().rttSeconds);
    },
  });
  new Gauge({
    name: "dfly_control_jetstream_up",
    help: "1 when the control's last read from its topology KV bucket (JetStream; one a second) answered within 1 s, else 0",
    registers: [registry],
    collect() {
      this.set(health.result().jetstreamUp ? 1 : 0);
    },
  });
}
