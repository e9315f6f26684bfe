/**
 * The edge worker's configuration: every wrangler var is parsed here and nowhere else, once per env object
 * (memoised in a WeakMap), into one typed value with a section per concern. Each tunable's default and valid range
 * are written once, in VARS below; wrangler.toml [vars] (or `--var` / the dashboard) only override them.
 *
 * A var that is missing or blank takes its default; a malformed or out-of-range value also takes the default and is
 * logged (config_invalid_var, once per env object). Integer vars are floored. The bindings (DB, KV, the GPU endpoint
 * vars) are typed from wrangler.toml by `npm run types` (worker-configuration.d.ts); secrets in edge/env.ts.
 */
import { SCENARIOS, type ScenarioId } from "./drills/context";
import type { Bindings } from "./env";
import type { BreakerConfig } from "./gpu/breaker";

// ---- the tunable vars: name, default, valid values ---------------------------------------------------------------

interface NumberVar {
  kind: "number";
  default: number;
  valid: (n: number) => boolean;
  integer: boolean;
}
interface TextVar {
  kind: "text";
  default: string;
}

const between =
  (min: number, max: number) =>
  (n: number): boolean =>
    n >= min && n <= max;
const atLeast =
  (min: number) =>
  (n: number): boolean =>
    n >= min;
const positive = (n: number): boolean => n > 0;
const fraction = (n: number): boolean => n > 0 && n < 1;
const int = (d: number, valid: (n: number) => boolean): NumberVar => ({
  kind: "number",
  default: d,
  valid,
  integer: true,
});
const real = (d: number, valid: (n: number) => boolean): NumberVar => ({
  kind: "number",
  default: d,
  valid,
  integer: false,
});
const text = (d: string): TextVar => ({ kind: "text", default: d });

const VARS = {
  // search cascade
  GPU_DEADLINE_MS: int(150, between(0, 120_000)),
  RETRIEVAL_N: int(200, between(1, 1_000)),
  LIGHT_TOP_M: int(50, between(0, 256)),
  // recommendation cascade: light top M sent to the sequence model, final = light + RECS_HEAVY_WEIGHT x heavy
  RECS_TOP_M: int(100, between(0, 300)),
  RECS_HEAVY_WEIGHT: real(0.5, between(0, 100)),
  // response cache (0 = not cached)
  CACHE_TTL_S: int(300, atLeast(0)),
  DEGRADED_CACHE_TTL_S: int(5, atLeast(0)),
  // after CACHE_TTL_S a (non-degraded) entry is served stale for this long while one request refreshes it (0 = off)
  CACHE_SWR_S: int(60, atLeast(0)),
  // request collapsing: at most this many keys in flight per isolate (0 = off; beyond it a miss runs on its own)
  COLLAPSE_MAX_KEYS: int(1000, between(0, 100_000)),
  // experiments
  CONFIG_TTL_S: real(30, atLeast(0)),
  // a cheap version check (the active experiment's updated_at) at most this often, so weight changes land in seconds
  CONFIG_VERSION_CHECK_S: real(2, atLeast(0)),
  // model releases: the guardrails of a canary step (canary vs baseline over the step window, live traffic)
  RELEASE_MIN_REQUESTS: int(30, atLeast(1)),
  RELEASE_MAX_5XX_DELTA: real(0.01, between(0, 1)),
  RELEASE_MAX_DEGRADED_DELTA: real(0.05, between(0, 1)),
  RELEASE_P99_RATIO: real(1.5, atLeast(1)),
  RELEASE_P99_SLACK_MS: real(50, atLeast(0)),
  RELEASE_SRM_P: real(0.001, fraction),
  RELEASE_SRM_MIN_DEVIATION: real(0.1, between(0, 1)),
  RELEASE_SEQ_ALPHA: real(0.05, fraction),
  RELEASE_SEQ_TAU: real(0.02, positive),
  RELEASE_SEQ_MIN_IMPRESSIONS: int(200, atLeast(1)),
  // GPU failover: breaker per endpoint, hedging (0 = off)
  GPU_BREAKER_FAILURES: int(3, atLeast(1)),
  GPU_BREAKER_ERROR_RATE: real(0.5, between(0.01, 1)),
  GPU_BREAKER_MIN_REQUESTS: int(10, atLeast(1)),
  GPU_BREAKER_WINDOW_MS: real(10_000, atLeast(100)),
  GPU_BREAKER_COOLDOWN_MS: real(2_000, atLeast(0)),
  GPU_HEDGE_PERCENTILE: real(0, (n) => n >= 0 && n < 100),
  // monitoring: rollup retention, SLOs, alert thresholds
  METRICS_MINUTE_RETENTION_H: real(48, positive),
  METRICS_HOUR_RETENTION_D: real(90, positive),
  // POST /v1/events: how long an eventId is remembered for dedupe (a repeat after this counts again)
  EVENT_ID_RETENTION_H: real(168, positive),
  SLO_AVAILABILITY_TARGET: real(0.995, fraction),
  SLO_LATENCY_TARGET: real(0.99, fraction),
  SLO_LATENCY_THRESHOLD_MS: real(300, positive),
  ANOMALY_Z_THRESHOLD: real(4, positive),
  ANOMALY_MIN_VOLUME: real(50, positive),
  DRIFT_PSI_THRESHOLD: real(0.2, positive),
  DRIFT_MIN_SAMPLES: real(200, positive),
  // failover drills
  DRILL_SCENARIOS: text("all"),
  DRILL_RTO_MS: real(10_000, between(1_000, 60_000)),
  DRILL_PROBE_QUERY: text(""),
  // HTTP surface: CORS origins (comma list of exact origins, "" = none), request body cap, rate limits ("off" = none)
  ALLOWED_ORIGINS: text(""),
  MAX_BODY_BYTES: int(524_288, between(1_024, 10_485_760)),
  RATE_LIMITS: text("on"),
} satisfies Record<string, NumberVar | TextVar>;

type VarName = keyof typeof VARS;

/** The tunable vars as the worker receives them (strings, all optional: the defaults are above). */
export type TunableVars = { [K in VarName]?: string };

type Values = { [K in VarName]: (typeof VARS)[K] extends NumberVar ? number : string };

/** The one parser: raw string → typed value, the default when missing, blank, malformed or out of range. */
function parseVar<K extends VarName>(name: K, raw: string | undefined): Values[K] {
  const spec: NumberVar | TextVar = VARS[name];
  const s = raw?.trim() ?? "";
  if (spec.kind === "text") return (s === "" ? spec.default : s) as Values[K];
  if (s === "") return spec.default as Values[K];
  const n = Number(s);
  if (!Number.isFinite(n) || !spec.valid(n)) {
    console.warn(JSON.stringify({ event: "config_invalid_var", name, value: raw, using: spec.default }));
    return spec.default as Values[K];
  }
  return (spec.integer ? Math.floor(n) : n) as Values[K];
}

function parseVars(env: Bindings): Values {
  const out: Partial<Record<VarName, number | string>> = {};
  for (const name of Object.keys(VARS) as VarName[]) out[name] = parseVar(name, env[name]);
  return out as Values;
}

// ---- the typed sections ----------------------------------------------------------------------------------------

export interface SearchConfig {
  retrievalN: number;
  lightTopM: number;
  /** budget for the whole GPU stage, all attempts included */
  gpuDeadlineMs: number;
}

export interface RecsConfig {
  /** light-ranked candidates sent to the sequence model (the Python cascade's top_m) */
  topM: number;
  /** final = light + heavyWeight × heavy over the top M (the heavy model is trained as the light ranker's residual) */
  heavyWeight: number;
}

/** Maximum candidates /v1/rerank accepts (and sends to the heavy model). */
export const RERANK_MAX = 200;

export interface CacheConfig {
  ttlS: number;
  degradedTtlS: number;
  /** stale-while-revalidate window after ttlS (non-degraded entries only) */
  swrS: number;
  /** request collapsing: most keys in flight per isolate (0 = off) */
  collapseMaxKeys: number;
}

export interface ExperimentsConfig {
  /** how long an isolate keeps an experiment config before re-reading D1 */
  configTtlMs: number;
  /** how often an isolate checks the config's version (one D1 row) and re-reads it when it changed */
  versionCheckMs: number;
}

/** The guardrails of a release's canary step (edge/releases/analysis.ts). */
export interface ReleaseGuardrails {
  /** live requests each arm needs in the step window before any decision */
  minRequests: number;
  /** canary 5xx rate − baseline 5xx rate above this → rollback */
  max5xxDelta: number;
  /** canary degraded rate − baseline degraded rate above this → rollback */
  maxDegradedDelta: number;
  /** canary p99 of a stage (total, light, gpu) above baseline p99 × ratio + slack → rollback */
  p99Ratio: number;
  p99SlackMs: number;
  /** sample-ratio mismatch: chi-square p below this → halt (rollback) … */
  srmP: number;
  /**
   * … when the canary's observed share is also off its expected share by more than this fraction of it (the
   * expected share is modelled from minute rollups and a seconds-long config propagation, so tiny offsets are noise)
   */
  srmMinDeviation: number;
  /** mSPRT on CTR / conversion: always-valid p below alpha with the canary worse → rollback */
  seqAlpha: number;
  /** the mSPRT's normal mixing scale for the difference of rates */
  seqTau: number;
  /** impressions each arm needs before the sequential test reads CTR / conversion */
  seqMinImpressions: number;
}

export interface GpuEndpointVars {
  name: string;
  region: string;
  /** runtime URL override ("" = the regional SageMaker runtime) */
  url: string;
}

export interface GpuConfig {
  primary: GpuEndpointVars;
  secondary: GpuEndpointVars;
  breaker: BreakerConfig;
  /** hedge to the secondary after this latency percentile of the primary; undefined = no hedging */
  hedgePercentile: number | undefined;
}

export interface MetricsConfig {
  minuteRetentionS: number;
  hourRetentionS: number;
  /** event ids (POST /v1/events dedupe) older than this are swept */
  eventIdRetentionS: number;
  availabilityTarget: number;
  latencyTarget: number;
  latencyThresholdMs: number;
  anomalyZ: number;
  anomalyMinVolume: number;
  driftPsiThreshold: number;
  driftMinSamples: number;
  /** Slack-compatible webhook for alert notifications (secret ALERT_WEBHOOK_URL); undefined = none */
  alertWebhookUrl: string | undefined;
}

export interface DrillTargets {
  /** recovery time objective: after the fault is lifted, probes are served normally again within this */
  rtoMs: number;
  /** the fault must be detected (breaker opened / failed flush seen / cold cache seen) within this */
  detectMs: number;
  /** probes must be served by the fallback path (secondary / light ranking) within this */
  failoverMs: number;
  /** non-2xx answers to probes tolerated (zero) */
  maxNon2xx: number;
  /** an answer may exceed the GPU deadline by at most this (slow-endpoint scenario) */
  deadlineSlackMs: number;
}

export interface DrillSettings {
  targets: DrillTargets;
  /** scenarios the cron runs */
  scheduled: ScenarioId[];
  /** hard cap per scenario */
  scenarioBudgetMs: number;
  /** pause between probes */
  probeGapMs: number;
  /** GPU deadline cap for probes under a "slow" fault */
  slowProbeDeadlineMs: number;
  /** "" = pick a narrow query from the catalog */
  probeQuery: string;
}

export interface HttpConfig {
  /** storefront origins allowed to call /v1/* from a browser (exact `scheme://host[:port]`, no trailing slash) */
  allowedOrigins: string[];
  /** larger request bodies are refused with 413 */
  maxBodyBytes: number;
  /** per-client rate limits (the wrangler.toml [[ratelimits]] bindings) applied; RATE_LIMITS = "off" disables them */
  rateLimits: boolean;
}

export interface EdgeConfig {
  http: HttpConfig;
  search: SearchConfig;
  recs: RecsConfig;
  cache: CacheConfig;
  experiments: ExperimentsConfig;
  releases: ReleaseGuardrails;
  gpu: GpuConfig;
  metrics: MetricsConfig;
  drills: DrillSettings;
}

/** "all" (or blank) = every scenario; otherwise the known ids of a comma list, in SCENARIOS order. */
function scenarioList(raw: string): ScenarioId[] {
  if (raw === "all") return [...SCENARIOS];
  const wanted = raw.split(",").map((s) => s.trim());
  return SCENARIOS.filter((s) => wanted.includes(s));
}

/** A comma list of origins → their normalised forms (no trailing slash); malformed entries are logged and dropped. */
function originList(raw: string): string[] {
  const out: string[] = [];
  for (const entry of raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    try {
      const u = new URL(entry);
      if ((u.protocol !== "https:" && u.protocol !== "http:") || u.origin !== entry.replace(/\/$/, ""))
        throw new Error("not an origin");
      out.push(u.origin);
    } catch {
      console.warn(
        JSON.stringify({ event: "config_invalid_var", name: "ALLOWED_ORIGINS", value: entry, using: "dropped" }),
      );
    }
  }
  return out;
}

function build(env: Bindings): EdgeConfig {
  const v = parseVars(env);
  return {
    http: {
      allowedOrigins: originList(v.ALLOWED_ORIGINS),
      maxBodyBytes: v.MAX_BODY_BYTES,
      rateLimits: v.RATE_LIMITS !== "off",
    },
    search: { retrievalN: v.RETRIEVAL_N, lightTopM: v.LIGHT_TOP_M, gpuDeadlineMs: v.GPU_DEADLINE_MS },
    recs: { topM: v.RECS_TOP_M, heavyWeight: v.RECS_HEAVY_WEIGHT },
    cache: {
      ttlS: v.CACHE_TTL_S,
      degradedTtlS: v.DEGRADED_CACHE_TTL_S,
      swrS: v.CACHE_SWR_S,
      collapseMaxKeys: v.COLLAPSE_MAX_KEYS,
    },
    experiments: { configTtlMs: v.CONFIG_TTL_S * 1000, versionCheckMs: v.CONFIG_VERSION_CHECK_S * 1000 },
    releases: {
      minRequests: v.RELEASE_MIN_REQUESTS,
      max5xxDelta: v.RELEASE_MAX_5XX_DELTA,
      maxDegradedDelta: v.RELEASE_MAX_DEGRADED_DELTA,
      p99Ratio: v.RELEASE_P99_RATIO,
      p99SlackMs: v.RELEASE_P99_SLACK_MS,
      srmP: v.RELEASE_SRM_P,
      srmMinDeviation: v.RELEASE_SRM_MIN_DEVIATION,
      seqAlpha: v.RELEASE_SEQ_ALPHA,
      seqTau: v.RELEASE_SEQ_TAU,
      seqMinImpressions: v.RELEASE_SEQ_MIN_IMPRESSIONS,
    },
    gpu: {
      primary: { name: env.GPU_ENDPOINT_NAME, region: env.GPU_REGION, url: env.GPU_ENDPOINT_URL },
      secondary: {
        name: env.GPU_SECONDARY_ENDPOINT_NAME,
        region: env.GPU_SECONDARY_REGION,
        url: env.GPU_SECONDARY_ENDPOINT_URL,
      },
      breaker: {
        consecutiveFailures: v.GPU_BREAKER_FAILURES,
        errorRate: v.GPU_BREAKER_ERROR_RATE,
        minRequests: v.GPU_BREAKER_MIN_REQUESTS,
        windowMs: v.GPU_BREAKER_WINDOW_MS,
        coolDownMs: v.GPU_BREAKER_COOLDOWN_MS,
      },
      hedgePercentile: v.GPU_HEDGE_PERCENTILE > 0 ? v.GPU_HEDGE_PERCENTILE : undefined,
    },
    metrics: {
      minuteRetentionS: v.METRICS_MINUTE_RETENTION_H * 3600,
      hourRetentionS: v.METRICS_HOUR_RETENTION_D * 86_400,
      eventIdRetentionS: v.EVENT_ID_RETENTION_H * 3600,
      availabilityTarget: v.SLO_AVAILABILITY_TARGET,
      latencyTarget: v.SLO_LATENCY_TARGET,
      latencyThresholdMs: v.SLO_LATENCY_THRESHOLD_MS,
      anomalyZ: v.ANOMALY_Z_THRESHOLD,
      anomalyMinVolume: v.ANOMALY_MIN_VOLUME,
      driftPsiThreshold: v.DRIFT_PSI_THRESHOLD,
      driftMinSamples: v.DRIFT_MIN_SAMPLES,
      alertWebhookUrl: env.ALERT_WEBHOOK_URL || undefined,
    },
    drills: {
      targets: { rtoMs: v.DRILL_RTO_MS, detectMs: 5_000, failoverMs: 5_000, maxNon2xx: 0, deadlineSlackMs: 50 },
      scheduled: scenarioList(v.DRILL_SCENARIOS),
      scenarioBudgetMs: 15_000,
      probeGapMs: 100,
      slowProbeDeadlineMs: 300,
      probeQuery: v.DRILL_PROBE_QUERY,
    },
  };
}

const memo = new WeakMap<Bindings, EdgeConfig>();

/** The configuration of this env object (parsed on first use, then shared by every reader of the same env). */
export function config(env: Bindings): EdgeConfig {
  let c = memo.get(env);
  if (!c) memo.set(env, (c = build(env)));
  return c;
}
