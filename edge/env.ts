/**
 * Bindings of the edge worker and the Hono environment every route and middleware shares.
 *
 * `Env` (D1 `DB`, KV `KV`, the GPU endpoint vars) is generated from wrangler.toml into worker-configuration.d.ts by
 * `npm run types`; the tunable vars are typed by edge/config.ts, which holds their defaults and parses them; the
 * secrets are typed here.
 */
import type { TimingVariables } from "hono/timing";
import type { TunableVars } from "./config";

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

export type Bindings = Env & TunableVars & Secrets;

/** Per-request values that middleware sets for later handlers (typed Context, as in Hono's own middleware). */
export interface Variables extends TimingVariables {
  requestId: string;
}

export interface AppEnv {
  Bindings: Bindings;
  Variables: Variables;
}
