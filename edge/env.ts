/**
 * Bindings of the edge worker and the Hono environment every route and middleware shares.
 *
 * `Env` (D1 `DB`, KV `KV`, the GPU endpoint vars) is generated from wrangler.toml into worker-configuration.d.ts by
 * `npm run types`; the tunable vars are typed by edge/config.ts, which holds their defaults and parses them; the
 * secrets are typed here.
 */
import type { TimingVariables } from "hono/timing";
import type { TunableVars } from "./config";
import type { D1Scope } from "./db/d1-scope";
import type { GpuScope } from "./gpu/types";

/** `wrangler secret put NAME` in production, .dev.vars locally. All optional: each feature checks for its own. */
export interface Secrets {
  /** SageMaker InvokeEndpoint credentials (SigV4) */
  AWS_ACCESS_KEY_ID?: string;
  AWS_SECRET_ACCESS_KEY?: string;
  AWS_SESSION_TOKEN?: string;
  /** admin API and dashboard login */
  ADMIN_TOKEN?: string;
  /** signs drill probe headers */
  DRILL_SECRET?: string;
  /** Slack-compatible alert notifications */
  ALERT_WEBHOOK_URL?: string;
}

/**
 * Bindings that only some deployments have (declared commented in wrangler.toml, so `npm run types` leaves them out):
 * each feature checks for its own.
 */
export interface OptionalBindings {
  /** Cloudflare Vectorize: the MF source's ANN index in production (edge/recs/ann/vectorize.ts); absent locally */
  VECTORIZE?: VectorizeIndex;
}

export type Bindings = Env & TunableVars & Secrets & OptionalBindings;

/**
 * A synthetic request — today a verified failover-drill probe (edge/drills/middleware.ts): it ranks with a GPU scope
 * and a D1 scope of its own (its breakers, its injected faults) and usually bypasses the response cache. Real
 * traffic has none.
 */
export interface SyntheticRequest {
  kind: "drill";
  gpu: GpuScope;
  /** its D1 reads: the drill run's own D1 breaker and its injected fault (edge/db/guarded.ts) */
  d1: D1Scope;
  bypassCache: boolean;
}

/** Per-request values that middleware sets for later handlers (typed Context, as in Hono's own middleware). */
export interface Variables extends TimingVariables {
  requestId: string;
  synthetic?: SyntheticRequest;
  /** set by the admin guard (edge/middleware/admin-auth.ts) once it checked the request (a refused one ends there) */
  admin?: true;
}

export interface AppEnv {
  Bindings: Bindings;
  Variables: Variables;
}
