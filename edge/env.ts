/**
 * Bindings (wrangler.toml) and secrets (.dev.vars / `wrangler secret put`) of the edge worker,
 * and the Hono environment every route and middleware shares.
 */
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
  // secrets
  AWS_ACCESS_KEY_ID?: string;
  AWS_SECRET_ACCESS_KEY?: string;
  AWS_SESSION_TOKEN?: string;
  ADMIN_TOKEN?: string;
  DRILL_SECRET?: string;
  ALERT_WEBHOOK_URL?: string;
}

/** Per-request values that middleware sets for later handlers (typed Context, as in Hono's own middleware). */
export interface Variables {
  requestId: string;
}

export interface AppEnv {
  Bindings: Bindings;
  Variables: Variables;
}
