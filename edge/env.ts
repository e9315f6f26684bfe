/**
 * Bindings (wrangler.toml) and secrets (.dev.vars / `wrangler secret put`) of the edge worker,
 * and the Hono environment every route and middleware shares.
 */
import type { TimingVariables } from "hono/timing";

export interface Bindings {
  DB: D1Database;
  KV: KVNamespace;
  // GPU tier (SageMaker real-time endpoints). *_ENDPOINT_URL overrides the regional runtime URL (local gpu-tier).
  GPU_ENDPOINT_NAME: string;
  GPU_REGION: string;
  GPU_ENDPOINT_URL: string;
  GPU_SECONDARY_ENDPOINT_NAME: string;
  GPU_SECONDARY_REGION: string;
  GPU_SECONDARY_ENDPOINT_URL: string;
  GPU_DEADLINE_MS: string;
  RETRIEVAL_N: string;
  LIGHT_TOP_M: string;
  CACHE_TTL_S: string;
  DEGRADED_CACHE_TTL_S: string;
  CONFIG_TTL_S: string;
  // monitoring (edge/metrics/config.ts; optional, defaults there)
  METRICS_MINUTE_RETENTION_H?: string;
  METRICS_HOUR_RETENTION_D?: string;
  SLO_AVAILABILITY_TARGET?: string;
  SLO_LATENCY_TARGET?: string;
  SLO_LATENCY_THRESHOLD_MS?: string;
  ANOMALY_Z_THRESHOLD?: string;
  ANOMALY_MIN_VOLUME?: string;
  DRIFT_PSI_THRESHOLD?: string;
  DRIFT_MIN_SAMPLES?: string;
  // GPU failover and drills (edge/gpu/breaker.ts, edge/drills/config.ts; optional, defaults there)
  GPU_HEDGE_PERCENTILE?: string;
  GPU_BREAKER_FAILURES?: string;
  GPU_BREAKER_ERROR_RATE?: string;
  GPU_BREAKER_MIN_REQUESTS?: string;
  GPU_BREAKER_WINDOW_MS?: string;
  GPU_BREAKER_COOLDOWN_MS?: string;
  DRILL_SCENARIOS?: string;
  DRILL_RTO_MS?: string;
  DRILL_PROBE_QUERY?: string;
  // secrets
  AWS_ACCESS_KEY_ID?: string;
  AWS_SECRET_ACCESS_KEY?: string;
  AWS_SESSION_TOKEN?: string;
  ADMIN_TOKEN?: string;
  DRILL_SECRET?: string;
  ALERT_WEBHOOK_URL?: string;
}

/** Per-request values that middleware sets for later handlers (typed Context, as in Hono's own middleware). */
export interface Variables extends TimingVariables {
  requestId: string;
}

export interface AppEnv {
  Bindings: Bindings;
  Variables: Variables;
}
