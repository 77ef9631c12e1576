/** The environment every service process reads (DFLY_CLUSTER, DFLY_NATS_URL, DFLY_KV_REPLICAS) and the integer parsing they share. */

/** The cluster name (DFLY_CLUSTER, the helm release) when none is given: subjects `dfly.…`. */
export const DEFAULT_CLUSTER = "dfly";

/** A service configuration variable (DFLY_*) that does not parse or is out of range. */
export class ServiceEnvError extends Error {
  override readonly name: string = "ServiceEnvError";
}

export type EnvErrorClass = new (message: string) => Error;

/** JetStream's limit on the replicas of a stream (a KV bucket is one). */
export const MAX_KV_REPLICAS = 5;

/** An integer variable in min..max; absent or empty: `dflt`. Else `Err` naming the variable. */
export function envInt(
  name: string,
  v: string | undefined,
  dflt: number,
  min: number,
  max: number,
  Err: EnvErrorClass = ServiceEnvError,
): number {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Err(`${name}=${v} is not an integer in ${min}..${max}`);
  return n;
}

/** DFLY_KV_REPLICAS: replicas of the JetStream KV buckets a process creates (1..5, default 1). */
export function kvReplicasFromEnv(env: NodeJS.ProcessEnv = process.env, Err: EnvErrorClass = ServiceEnvError): number {
  return envInt("DFLY_KV_REPLICAS", env.DFLY_KV_REPLICAS, 1, 1, MAX_KV_REPLICAS, Err);
}

export interface ServiceBaseConfig {
  cluster: string;
  /** DFLY_NATS_URL; undefined: the in-process transport. */
  natsUrl: string | undefined;
  kvReplicas: number;
}

/**
 * A cluster name is one NATS subject token (`<cluster>.…`) and the prefix of JetStream KV bucket names
 * (`<cluster>-routes`): bucket names allow letters, digits, "-" and "_", and a "." would split the token.
 */
const CLUSTER_NAME = /^[A-Za-z0-9_-]+$/;

/** DFLY_CLUSTER, checked against CLUSTER_NAME (absent or empty: DEFAULT_CLUSTER). */
export function clusterFromEnv(env: NodeJS.ProcessEnv = process.env, Err: EnvErrorClass = ServiceEnvError): string {
  const c = env.DFLY_CLUSTER || DEFAULT_CLUSTER;
  if (!CLUSTER_NAME.test(c)) throw new Err(`DFLY_CLUSTER=${c}: a cluster name is a NATS subject token and KV bucket prefix: letters, digits, "-" and "_" only`);
  return c;
}

export function serviceBaseFromEnv(env: NodeJS.ProcessEnv = process.env, Err: EnvErrorClass = ServiceEnvError): ServiceBaseConfig {
  return {
    cluster: clusterFromEnv(env, Err),
    natsUrl: env.DFLY_NATS_URL || undefined,
    kvReplicas: kvReplicasFromEnv(env, Err),
  };
}
