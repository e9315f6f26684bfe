/**
 * The edge worker's configuration: one zod schema over the env. Every tunable var's default and valid range are
 * written once, in `varsSchema` below; wrangler.toml [vars] (or `--var` / the dashboard) only override them. The
 * parse runs once per env object (memoised in a WeakMap: once per isolate) and its output is one typed value with a
 * section per concern (`build` below; EdgeConfig is its type), so no reader parses a var again.
 *
 * A var that is missing or blank takes its default; a malformed or out-of-range value also takes the default and is
 * logged once (`config_invalid_var`, with the value, the default used and zod's message). Integer vars are floored.
 * This module imports no domain module: the sections are plain values that the GPU client, the drills, the metrics
 * jobs … read; bindings (DB, KV, the GPU endpoint vars) are typed from wrangler.toml by `npm run types`
 * (worker-configuration.d.ts), secrets in edge/env.ts.
 */
import { z } from "zod";

// ---- the tunable vars: name, default, valid values ---------------------------------------------------------------

/** A var as the worker receives it: a string, blank meaning "not set". */
const unset = (v: unknown): unknown => (typeof v === "string" && v.trim() === "" ? undefined : v);

/** A number var: `range` narrows the number, `integer` floors it; missing or blank → `d`. */
function numberVar(d: number, range: (n: z.ZodNumber) => z.ZodNumber, integer = false) {
  const n = range(z.coerce.number({ invalid_type_error: "not a number" }).finite());
  return z.preprocess(unset, (integer ? n.transform(Math.floor) : n).optional()).transform((v) => v ?? d);
}
const int = (d: number, min: number, max = Number.MAX_SAFE_INTEGER) => numberVar(d, (n) => n.min(min).max(max), true);
const real = (d: number, min: number, max = Number.MAX_VALUE) => numberVar(d, (n) => n.min(min).max(max));
const positive = (d: number) => numberVar(d, (n) => n.positive());
/** strictly between 0 and 1 */
const fraction = (d: number) => numberVar(d, (n) => n.gt(0).lt(1));
const text = (d: string) =>
  z.preprocess(unset, z.string().trim().optional()).transform((v) => (v === undefined || v === "" ? d : v));

/** One of a fixed set of words; missing or blank → `d`. */
const choice = <const T extends string>(values: readonly [T, ...T[]], d: NoInfer<T>) =>
  z.preprocess(unset, z.enum(values).optional()).transform((v): T => v ?? d);

/** One GPU region of GPU_REGIONS: its SageMaker endpoint name, its AWS region, an optional runtime URL override. */
export const gpuRegionSchema = z
  .object({
    region: z.string().trim().min(1).max(64),
    endpoint: z.string().trim().min(1).max(63),
    /** "" = https://runtime.sagemaker.<region>.amazonaws.com */
    url: z.union([z.literal(""), z.string().url()]).default(""),
  })
  .strict();
export const gpuRegionsSchema = z
  .array(gpuRegionSchema)
  .min(1)
  .max(32)
  .refine((list) => new Set(list.map((r) => r.region)).size === list.length, "each region may be listed once");
export type GpuRegionVars = z.output<typeof gpuRegionSchema>;

/** GPU_RTT_TABLE: measured round trips (ms) per colo (IATA code) and region, e.g. {"SYD":{"ap-southeast-2":12}}. */
export const gpuRttTableSchema = z.record(
  z.string().regex(/^[A-Z]{3}$/, "a colo is a 3-letter IATA code"),
  z.record(z.string().trim().min(1).max(64), z.number().nonnegative().max(60_000)),
);

export const varsSchema = z.object({
  // search cascade: budget of the whole GPU stage (all attempts), candidates retrieved, light top M sent to the GPU
  GPU_DEADLINE_MS: int(150, 0, 120_000),
  RETRIEVAL_N: int(200, 1, 1_000),
  // retrieval reads at most this many of a query's matches, best quality first (README "Scale"; 0 = every match)
  SEARCH_FIRST_PASS_MAX: int(10_000, 0, 1_000_000),
  LIGHT_TOP_M: int(50, 0, 256),
  // recommendation cascade: light top M sent to the sequence model, final = light + RECS_HEAVY_WEIGHT x heavy
  RECS_TOP_M: int(100, 0, 300),
  RECS_HEAVY_WEIGHT: real(0.5, 0, 100),
  // response cache (0 = not cached)
  CACHE_TTL_S: int(300, 0),
  DEGRADED_CACHE_TTL_S: int(5, 0),
  // after CACHE_TTL_S a (non-degraded) entry is served stale for this long while one request refreshes it (0 = off)
  CACHE_SWR_S: int(60, 0),
  // request collapsing: at most this many keys in flight per isolate (0 = off; beyond it a miss runs on its own)
  COLLAPSE_MAX_KEYS: int(1000, 0, 100_000),
  // experiments and stores: how long an isolate keeps them before re-reading D1
  CONFIG_TTL_S: real(30, 0),
  // a cheap version check (the active experiment's updated_at) at most this often, so weight changes land in seconds
  CONFIG_VERSION_CHECK_S: real(2, 0),
  // model releases: the guardrails of a canary step (canary vs baseline over the step window, live traffic)
  RELEASE_MIN_REQUESTS: int(30, 1),
  RELEASE_MAX_5XX_DELTA: real(0.01, 0, 1),
  RELEASE_MAX_DEGRADED_DELTA: real(0.05, 0, 1),
  RELEASE_P99_RATIO: real(1.5, 1),
  RELEASE_P99_SLACK_MS: real(50, 0),
  RELEASE_SRM_P: fraction(0.001),
  RELEASE_SRM_MIN_DEVIATION: real(0.1, 0, 1),
  RELEASE_SEQ_ALPHA: fraction(0.05),
  RELEASE_SEQ_TAU: positive(0.02),
  RELEASE_SEQ_MIN_IMPRESSIONS: int(200, 1),
  // GPU failover: breaker per endpoint, hedging (0 = off)
  GPU_BREAKER_FAILURES: int(3, 1),
  GPU_BREAKER_ERROR_RATE: real(0.5, 0.01, 1),
  GPU_BREAKER_MIN_REQUESTS: int(10, 1),
  GPU_BREAKER_WINDOW_MS: real(10_000, 100),
  GPU_BREAKER_COOLDOWN_MS: real(2_000, 0),
  GPU_HEDGE_PERCENTILE: numberVar(0, (n) => n.min(0).lt(100)),
  // monitoring: rollup retention, SLOs, alert thresholds
  METRICS_MINUTE_RETENTION_H: positive(48),
  METRICS_HOUR_RETENTION_D: positive(90),
  // POST /v1/events: how long an eventId is remembered for dedupe (a repeat after this counts again)
  EVENT_ID_RETENTION_H: positive(168),
  SLO_AVAILABILITY_TARGET: fraction(0.995),
  SLO_LATENCY_TARGET: fraction(0.99),
  SLO_LATENCY_THRESHOLD_MS: positive(300),
  ANOMALY_Z_THRESHOLD: positive(4),
  ANOMALY_MIN_VOLUME: positive(50),
  DRIFT_PSI_THRESHOLD: positive(0.2),
  DRIFT_MIN_SAMPLES: positive(200),
  // business alerts per store (edge/metrics/business.ts): traffic below its EWMA band, CTR / conversion vs its week
  TRAFFIC_DROP_MIN_RPM: positive(20),
  FEEDBACK_DROP_P: fraction(0.001),
  FEEDBACK_DROP_MIN_IMPRESSIONS: positive(500),
  // the gpu-tier's host memory in use above which gpu_memory fires (edge/metrics/gpu-resources.ts)
  GPU_MEMORY_ALERT_RATIO: fraction(0.9),
  // failover drills: the scenarios the cron runs ("all" or a comma list), the recovery objective, the probe query
  DRILL_SCENARIOS: text("all"),
  DRILL_RTO_MS: real(10_000, 1_000, 60_000),
  DRILL_DEADLINE_SLACK_MS: real(50, 0, 5_000),
  DRILL_PROBE_QUERY: text(""),
  // the colo (IATA code) whose nearest GPU region primary_down takes down ("" = the admin request's own cf.colo; the
  // cron, which has none, then takes the first configured region down)
  DRILL_COLO: z
    .preprocess(
      unset,
      z
        .string()
        .trim()
        .regex(/^[A-Za-z]{3}$/, "an IATA code such as SYD")
        .optional(),
    )
    .transform((v) => v?.toUpperCase() ?? ""),
  // HTTP surface: CORS origins (comma list of exact origins, "" = none), request body cap, rate limits ("off" = none)
  ALLOWED_ORIGINS: text(""),
  MAX_BODY_BYTES: int(524_288, 1_024, 10_485_760),
  // a catalogue upload (POST /admin/stores/{store}/products: up to 10,000 products) may be this large
  CATALOG_MAX_BODY_BYTES: int(10_485_760, 1_024, 104_857_600),
  RATE_LIMITS: text("on"),
  // stores whose products are sharded across the CATALOG_SHARD_1.. D1 bindings by hash of product id (comma list of
  // store ids; "" = none: every store's products live in DB, as before) — edge/catalog/shards.ts
  CATALOG_SHARDED_STORES: text(""),
  // D1 on the request path (edge/db/guarded.ts): a read's deadline, the D1 circuit breaker, what a D1 outage serves
  D1_DEADLINE_MS: int(1_000, 10, 30_000),
  // … except an isolate's one-off bulk load of a store's recommendation tables (once per recs version)
  D1_LOAD_DEADLINE_MS: int(15_000, 10, 120_000),
  D1_BREAKER_FAILURES: int(3, 1),
  D1_BREAKER_COOLDOWN_MS: real(2_000, 0),
  // a cached answer may be served this long past its freshness while D1 fails (stale-if-error; 0 = off)
  STALE_IF_ERROR_S: int(86_400, 0, 604_800),
  // Retry-After of the 503 catalog_unavailable answer
  D1_RETRY_AFTER_S: int(5, 1, 3_600),
  // POST /v1/events durability (edge/events/): the write-through deadline of D1, the deadline of the durable buffer
  // (a Durable Object) that takes the events when D1 fails, its first drain retry and the cap of its back-off
  EVENTS_D1_DEADLINE_MS: int(1_000, 50, 30_000),
  EVENTS_BUFFER_DEADLINE_MS: int(3_000, 50, 30_000),
  EVENTS_RETRY_FIRST_MS: int(250, 10, 300_000),
  EVENTS_RETRY_MAX_MS: int(3_000, 100, 300_000),
  // the events_buffer_backlog alert: the oldest payload the buffer holds for D1 is older than this
  EVENTS_BACKLOG_ALERT_S: int(600, 60, 86_400),
  // global traffic (README "Global traffic"): the GPU regions as a JSON list ("" = the GPU_* / GPU_SECONDARY_* vars),
  // how a request picks its region ("nearest" by estimated round trip, "fixed" = the configured order as before),
  // the least compute time worth sending, the round-trip samples the low-quantile estimate keeps, how long learned round trips
  // read back from D1 are kept, and whether a trusted x-vitrine-colo header may set the edge location (bench only)
  GPU_REGIONS: text(""),
  GPU_ROUTING: choice(["nearest", "fixed"] as const, "nearest"),
  GPU_MIN_COMPUTE_MS: int(20, 1, 10_000),
  GPU_RTT_WINDOW: int(20, 1, 1_000),
  GPU_RTT_TTL_S: real(60, 1, 86_400),
  // round trips the operator measured per (colo, region), JSON; they replace the built-in table's estimate
  GPU_RTT_TABLE: text(""),
  GPU_TRUST_COLO_HEADER: choice(["off", "on"] as const, "off"),
});

type VarName = keyof typeof varsSchema.shape;
type Vars = z.output<typeof varsSchema>;

/** The tunable vars as the worker receives them (strings, all optional: the defaults are in varsSchema). */
export type TunableVars = { [K in VarName]?: string };

/** What the configuration is read from: the tunable vars, the GPU endpoint vars (wrangler.toml) and one secret. */
export type ConfigSource = TunableVars &
  Pick<
    Env,
    | "GPU_ENDPOINT_NAME"
    | "GPU_REGION"
    | "GPU_ENDPOINT_URL"
    | "GPU_SECONDARY_ENDPOINT_NAME"
    | "GPU_SECONDARY_REGION"
    | "GPU_SECONDARY_ENDPOINT_URL"
  > & { ALERT_WEBHOOK_URL?: string };

const DEFAULTS: Vars = varsSchema.parse({});

/**
 * The one parse: each var missing, blank, malformed or out of range takes its default; the bad ones are logged
 * (the message is zod's: "Number must be less than or equal to 1000", …) and parsed again without them.
 */
function parseVars(env: ConfigSource): Vars {
  const raw: Partial<Record<VarName, unknown>> = {};
  for (const name of Object.keys(varsSchema.shape) as VarName[]) raw[name] = env[name];
  const first = varsSchema.safeParse(raw);
  if (first.success) return first.data;
  for (const issue of first.error.issues) {
    const name = issue.path[0] as VarName;
    const using = DEFAULTS[name];
    console.warn(
      JSON.stringify({ event: "config_invalid_var", name, value: raw[name], using, message: issue.message }),
    );
    delete raw[name];
  }
  return varsSchema.parse(raw);
}

/** A comma list of origins → their normalised forms (no trailing slash); malformed entries are logged and dropped. */
function originList(raw: string): string[] {
  const out: string[] = [];
  for (const entry of raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const origin = z.string().url().safeParse(entry).success ? new URL(entry) : undefined;
    if (
      origin &&
      (origin.protocol === "https:" || origin.protocol === "http:") &&
      origin.origin === entry.replace(/\/$/, "")
    )
      out.push(origin.origin);
    else
      console.warn(
        JSON.stringify({ event: "config_invalid_var", name: "ALLOWED_ORIGINS", value: entry, using: "dropped" }),
      );
  }
  return out;
}

/**
 * A JSON var parsed by `schema`; unset (""), or malformed — logged as config_invalid_var with what stands instead
 * (`using`) — → undefined.
 */
function jsonVar<T extends z.ZodTypeAny>(name: string, raw: string, schema: T, using: string): z.output<T> | undefined {
  if (raw === "") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    json = undefined;
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data as z.output<T>;
  const message =
    json === undefined
      ? "not JSON"
      : parsed.error.issues.map((i) => `${i.path.join(".") || "value"}: ${i.message}`).join("; ");
  console.warn(JSON.stringify({ event: "config_invalid_var", name, value: raw, using, message }));
  return undefined;
}

/** GPU_RTT_TABLE as `${colo}|${region}` → ms; a malformed table is logged and ignored (the built-in table stands). */
function rttTable(raw: string): ReadonlyMap<string, number> {
  const out = new Map<string, number>();
  const table = jsonVar("GPU_RTT_TABLE", raw, gpuRttTableSchema, "built-in") ?? {};
  for (const [colo, regions] of Object.entries(table))
    for (const [region, ms] of Object.entries(regions)) out.set(`${colo}|${region}`, ms);
  return out;
}

/**
 * The GPU regions in configured order: GPU_REGIONS when set and valid (a malformed list is logged and ignored),
 * else the two-endpoint vars — the secondary only when it has a name and region and, when the primary is a local
 * override (a URL), a URL of its own too (a local primary with an empty secondary URL would otherwise point at a real
 * AWS region).
 */
function regionList(raw: string, env: ConfigSource): GpuRegionVars[] {
  const configured = jsonVar("GPU_REGIONS", raw, gpuRegionsSchema, "GPU_*");
  if (configured) return configured;
  const list: GpuRegionVars[] = [
    { region: env.GPU_REGION, endpoint: env.GPU_ENDPOINT_NAME, url: env.GPU_ENDPOINT_URL },
  ];
  const s = {
    region: env.GPU_SECONDARY_REGION,
    endpoint: env.GPU_SECONDARY_ENDPOINT_NAME,
    url: env.GPU_SECONDARY_ENDPOINT_URL,
  };
  if (s.endpoint && s.region && (s.url !== "" || env.GPU_ENDPOINT_URL === "")) list.push(s);
  return list;
}

/** "all" → every scenario; otherwise the names of a comma list (the drills keep the ones they know). */
function nameList(raw: string): "all" | string[] {
  return raw === "all"
    ? "all"
    : raw
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
}

// ---- the typed sections ----------------------------------------------------------------------------------------

function build(env: ConfigSource) {
  const v = parseVars(env);
  return {
    http: {
      /** storefront origins allowed to call /v1/* from a browser (exact `scheme://host[:port]`, no trailing slash) */
      allowedOrigins: originList(v.ALLOWED_ORIGINS),
      /** larger request bodies are refused with 413 */
      maxBodyBytes: v.MAX_BODY_BYTES,
      /** … except a catalogue upload, refused above this */
      catalogMaxBodyBytes: v.CATALOG_MAX_BODY_BYTES,
      /** per-client rate limits (the wrangler.toml [[ratelimits]] bindings) applied; RATE_LIMITS = "off" disables them */
      rateLimits: v.RATE_LIMITS !== "off",
    },
    catalog: {
      /** stores whose products live in the CATALOG_SHARD_* databases, sharded by hash of product id */
      shardedStores: new Set(
        v.CATALOG_SHARDED_STORES.split(",")
          .map((s) => s.trim())
          .filter(Boolean),
      ),
    },
    search: {
      /** candidates retrieval returns */
      retrievalN: v.RETRIEVAL_N,
      /** matches retrieval scores at most, best quality first (0 = all: exact bm25 over every match) */
      firstPassMax: v.SEARCH_FIRST_PASS_MAX,
      /** light-ranked candidates sent to the heavy model */
      lightTopM: v.LIGHT_TOP_M,
      /** budget for the whole GPU stage, all attempts included (search and recommend) */
      gpuDeadlineMs: v.GPU_DEADLINE_MS,
    },
    recs: {
      /** light-ranked candidates sent to the sequence model (the Python cascade's top_m) */
      topM: v.RECS_TOP_M,
      /** final = light + heavyWeight × heavy over the top M (the heavy model is trained as the light ranker's residual) */
      heavyWeight: v.RECS_HEAVY_WEIGHT,
    },
    cache: {
      ttlS: v.CACHE_TTL_S,
      degradedTtlS: v.DEGRADED_CACHE_TTL_S,
      /** stale-while-revalidate window after ttlS (non-degraded entries only) */
      swrS: v.CACHE_SWR_S,
      /** request collapsing: most keys in flight per isolate (0 = off) */
      collapseMaxKeys: v.COLLAPSE_MAX_KEYS,
    },
    experiments: {
      /** how long an isolate keeps an experiment config (and the store set) before re-reading D1 */
      configTtlMs: v.CONFIG_TTL_S * 1000,
      /** how often an isolate checks the config's version (one D1 row) and re-reads it when it changed */
      versionCheckMs: v.CONFIG_VERSION_CHECK_S * 1000,
    },
    /** the guardrails of a release's canary step (edge/releases/analysis.ts) */
    releases: {
      /** live requests each arm needs in the step window before any decision */
      minRequests: v.RELEASE_MIN_REQUESTS,
      /** canary 5xx rate − baseline 5xx rate above this → rollback */
      max5xxDelta: v.RELEASE_MAX_5XX_DELTA,
      /** canary degraded rate − baseline degraded rate above this → rollback */
      maxDegradedDelta: v.RELEASE_MAX_DEGRADED_DELTA,
      /** canary p99 of a stage (total, light, gpu) above baseline p99 × ratio + slack → rollback */
      p99Ratio: v.RELEASE_P99_RATIO,
      p99SlackMs: v.RELEASE_P99_SLACK_MS,
      /** sample-ratio mismatch: chi-square p below this → halt (rollback) … */
      srmP: v.RELEASE_SRM_P,
      /**
       * … when the canary's observed share is also off its expected share by more than this fraction of it (the
       * expected share is modelled from minute rollups and a seconds-long config propagation, so tiny offsets are noise)
       */
      srmMinDeviation: v.RELEASE_SRM_MIN_DEVIATION,
      /** mSPRT on CTR / conversion: always-valid p below alpha with the canary worse → rollback */
      seqAlpha: v.RELEASE_SEQ_ALPHA,
      /** the mSPRT's normal mixing scale for the difference of rates */
      seqTau: v.RELEASE_SEQ_TAU,
      /** impressions each arm needs before the sequential test reads CTR / conversion */
      seqMinImpressions: v.RELEASE_SEQ_MIN_IMPRESSIONS,
    },
    gpu: {
      /** the circuit breaker of each endpoint (edge/gpu/breaker.ts) */
      breaker: {
        consecutiveFailures: v.GPU_BREAKER_FAILURES,
        errorRate: v.GPU_BREAKER_ERROR_RATE,
        minRequests: v.GPU_BREAKER_MIN_REQUESTS,
        windowMs: v.GPU_BREAKER_WINDOW_MS,
        coolDownMs: v.GPU_BREAKER_COOLDOWN_MS,
      },
      /** hedge to the secondary after this latency percentile of the primary; undefined = no hedging */
      hedgePercentile: v.GPU_HEDGE_PERCENTILE > 0 ? v.GPU_HEDGE_PERCENTILE : undefined,
      /** every GPU region, configured order (edge/gpu/endpoints.ts) */
      regions: regionList(v.GPU_REGIONS, env),
      /** region order per request: nearest by estimated round trip, or the configured order (edge/gpu/routing.ts) */
      routing: v.GPU_ROUTING,
      /** a region is tried only when its estimated round trip leaves at least this much compute time */
      minComputeMs: v.GPU_MIN_COMPUTE_MS,
      /** round-trip samples kept per (colo, region); the estimate is their low quantile (edge/gpu/rtt.ts) */
      rttWindow: v.GPU_RTT_WINDOW,
      /** learned round trips read back from D1 are refreshed after this */
      rttTtlMs: v.GPU_RTT_TTL_S * 1000,
      /** the operator's measured round trips, `${colo}|${region}` → ms (GPU_RTT_TABLE): the prior before the built-in table */
      rttTable: rttTable(v.GPU_RTT_TABLE),
      /** x-vitrine-colo sets the request's edge location (local benches only; never in production) */
      trustColoHeader: v.GPU_TRUST_COLO_HEADER === "on",
    },
    metrics: {
      minuteRetentionS: v.METRICS_MINUTE_RETENTION_H * 3600,
      hourRetentionS: v.METRICS_HOUR_RETENTION_D * 86_400,
      /** event ids (POST /v1/events dedupe) older than this are swept */
      eventIdRetentionS: v.EVENT_ID_RETENTION_H * 3600,
      availabilityTarget: v.SLO_AVAILABILITY_TARGET,
      latencyTarget: v.SLO_LATENCY_TARGET,
      latencyThresholdMs: v.SLO_LATENCY_THRESHOLD_MS,
      anomalyZ: v.ANOMALY_Z_THRESHOLD,
      anomalyMinVolume: v.ANOMALY_MIN_VOLUME,
      driftPsiThreshold: v.DRIFT_PSI_THRESHOLD,
      driftMinSamples: v.DRIFT_MIN_SAMPLES,
      /** a store's traffic drop is judged only when its learned baseline is at least this many requests a minute */
      trafficDropMinRpm: v.TRAFFIC_DROP_MIN_RPM,
      /** one-sided p-value below which a store's CTR / conversion is worse than its trailing week */
      feedbackDropP: v.FEEDBACK_DROP_P,
      /** impressions the last hour (and the week) need before the CTR / conversion test is run */
      feedbackDropMinImpressions: v.FEEDBACK_DROP_MIN_IMPRESSIONS,
      /** host memory in use (0..1) of a gpu-tier above which gpu_memory fires */
      gpuMemoryAlertRatio: v.GPU_MEMORY_ALERT_RATIO,
      /** Slack-compatible webhook for alert notifications (secret ALERT_WEBHOOK_URL); undefined = none */
      alertWebhookUrl: env.ALERT_WEBHOOK_URL || undefined,
    },
    d1: {
      /** each request-path D1 read (a query or a batch) fails as D1Unavailable after this */
      deadlineMs: v.D1_DEADLINE_MS,
      /** a bulk load (a recs version's item tables, once per isolate) has this long */
      loadDeadlineMs: v.D1_LOAD_DEADLINE_MS,
      /** the D1 circuit breaker (edge/gpu/breaker.ts machinery): consecutive failures, or half the reads of 10 s */
      breaker: {
        consecutiveFailures: v.D1_BREAKER_FAILURES,
        errorRate: 0.5,
        minRequests: 10,
        windowMs: 10_000,
        coolDownMs: v.D1_BREAKER_COOLDOWN_MS,
      },
      /** how long past its freshness a cached answer is kept and served while D1 fails */
      staleIfErrorS: v.STALE_IF_ERROR_S,
      /** Retry-After (s) of a 503 catalog_unavailable */
      retryAfterS: v.D1_RETRY_AFTER_S,
    },
    events: {
      /** the write-through to D1: past this (or on an error) the payload goes to the durable buffer */
      d1DeadlineMs: v.EVENTS_D1_DEADLINE_MS,
      /** handing a payload to the durable buffer: past this (or on an error) the request answers 503 */
      bufferDeadlineMs: v.EVENTS_BUFFER_DEADLINE_MS,
      /** the buffer drains this long after it took a payload, and retries after a failure from this … */
      retryFirstMs: v.EVENTS_RETRY_FIRST_MS,
      /** … doubling up to this */
      retryMaxMs: Math.max(v.EVENTS_RETRY_MAX_MS, v.EVENTS_RETRY_FIRST_MS),
      /** events_buffer_backlog fires when the oldest held payload is older than this (s) */
      backlogAlertS: v.EVENTS_BACKLOG_ALERT_S,
    },
    drills: {
      targets: {
        /** recovery time objective: after the fault is lifted, probes are served normally again within this */
        rtoMs: v.DRILL_RTO_MS,
        /** the fault must be detected (breaker opened / failed flush seen / cold cache seen) within this */
        detectMs: 5_000,
        /** probes must be served by the fallback path (secondary / light ranking) within this */
        failoverMs: 5_000,
        /** non-2xx answers to probes tolerated (zero) */
        maxNon2xx: 0,
        /** an answer may exceed the GPU deadline by at most this (slow-endpoint scenario) */
        deadlineSlackMs: v.DRILL_DEADLINE_SLACK_MS,
      },
      /** scenarios the cron runs: "all", or names (edge/drills/ keeps the ones it knows, in its own order) */
      scheduled: nameList(v.DRILL_SCENARIOS),
      /** hard cap per scenario */
      scenarioBudgetMs: 15_000,
      /** pause between probes */
      probeGapMs: 100,
      /** GPU deadline cap for probes under a "slow" fault */
      slowProbeDeadlineMs: 300,
      /** "" = pick a narrow query from the catalog */
      probeQuery: v.DRILL_PROBE_QUERY,
      /** the colo the probes are labelled with ("" = the admin request's own, else none) */
      colo: v.DRILL_COLO,
    },
  };
}

export type EdgeConfig = ReturnType<typeof build>;
export type MetricsConfig = EdgeConfig["metrics"];
export type ReleaseGuardrails = EdgeConfig["releases"];
export type DrillSettings = EdgeConfig["drills"];
export type EventsConfig = EdgeConfig["events"];
export type BreakerConfig = EdgeConfig["gpu"]["breaker"];

const memo = new WeakMap<ConfigSource, EdgeConfig>();

/** The configuration of this env object (parsed on first use, then shared by every reader of the same env). */
export function config(env: ConfigSource): EdgeConfig {
  let c = memo.get(env);
  if (!c) memo.set(env, (c = build(env)));
  return c;
}
