/**
 * The monitoring read side, admin (bearer ADMIN_TOKEN): GET /admin/metrics (time series), GET /admin/alerts (alert
 * state), POST /admin/alerts/{id}/silence — the HTTP contract (handlers: edge/routes/admin-metrics.ts). Answers are
 * described loosely: their fields follow the D1 rollups (edge/metrics/queries.ts).
 */
import { TRAFFIC } from "../db/schema-metrics";
import { GROUP_BY } from "../metrics/queries";
import { defineRoute, json, jsonBody, z } from "./openapi";
import { limit, storeId, unixSeconds } from "./params";

const MAX_POINTS = 1440;

const metricsQueryFields = z.object({
  from: unixSeconds.optional(),
  to: unixSeconds.optional(),
  step: z.coerce
    .number()
    .int()
    .min(60)
    .max(86_400)
    .refine((s) => s % 60 === 0, "step must be a multiple of 60")
    .default(60),
  /**
   * "colo" and "region" also add `geo`: per (colo, GPU region) the degraded share, GPU p50/p99 and learned round trip
   * (edge/metrics/geo.ts); the series of "region" are not split (request rollups carry no region)
   */
  groupBy: z.enum([...GROUP_BY, "region"]).optional(),
  /** live requests or drill probes only; absent = both */
  traffic: z.enum(TRAFFIC).optional(),
  /** one store only (a stores.id; unknown → 400); absent = every store */
  store: storeId.optional(),
});

/** The time range resolved: `to` defaults to the end of this minute, `from` to an hour before; at most 1440 points. */
export const metricsQuerySchema = metricsQueryFields.transform((q, ctx) => {
  const now = Math.floor(Date.now() / 1000);
  const to = q.to ?? now + 60 - (now % 60);
  const from = q.from ?? to - 3600;
  if (from >= to) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["from"], message: "from must be before to" });
  else if ((to - from) / q.step > MAX_POINTS)
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ["step"],
      message: `at most ${MAX_POINTS} points: raise step`,
    });
  return { from: from - (from % 60), to, step: q.step, groupBy: q.groupBy, traffic: q.traffic, store: q.store };
});

const anyObject = z.object({}).passthrough();

export const metricsRoute = defineRoute("admin", "get", "/metrics", {
  summary:
    "Time series: counts, rates, stage percentiles, cache hit ratio, CTR, conversion; groupBy=colo|region adds the geography per (colo, GPU region)",
  request: { query: metricsQuerySchema },
  responses: { 200: json("the rollup series and the collector state", anyObject) },
});

export const alertsRoute = defineRoute("admin", "get", "/alerts", {
  summary: "Alert state (firing first)",
  request: {
    query: z.object({ state: z.enum(["pending", "firing", "resolved"]).optional(), limit: limit(500, 100) }),
  },
  responses: { 200: json("alerts", z.object({ alerts: z.array(anyObject) })) },
});

export const silenceRoute = defineRoute("admin", "post", "/alerts/{id}/silence", {
  summary: "Silence an alert for some minutes",
  request: {
    params: z.object({
      id: z
        .string()
        .min(1)
        .openapi({ param: { name: "id", in: "path" } }),
    }),
    body: jsonBody(
      z.object({
        minutes: z
          .number()
          .int()
          .min(1)
          .max(7 * 24 * 60),
      }),
    ),
  },
  responses: { 200: json("silenced", z.object({ id: z.string(), silencedUntil: z.number().int() })) },
});
