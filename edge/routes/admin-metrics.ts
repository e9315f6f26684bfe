/**
 * Admin read side (bearer ADMIN_TOKEN): GET /admin/metrics (time series), GET /admin/alerts (alert state),
 * POST /admin/alerts/:id/silence. Reads flush this isolate's pending aggregates first. `store=` filters on a
 * `stores` id: a malformed or unknown one is a 400, like any other filter value outside its set (traffic=).
 */
import { Hono } from "hono";
import { zValidator } from "@hono/zod-validator";
import { z } from "zod";
import type { AppEnv } from "../env";
import { invalidRequest, zodHook } from "../middleware/errors";
import { requireAdmin } from "../admin/auth";
import { flushNow, collectorState } from "../metrics/collector";
import { config } from "../config";
import { GROUP_BY, queryRollup } from "../metrics/queries";
import { TRAFFIC } from "../db/schema-metrics";
import { listAlerts, silenceAlert } from "../metrics/alerts";
import { resolveStore, storeIdSchema, storeSet } from "../stores/resolve";
import { describeRoute, json } from "../openapi/registry";

const MAX_POINTS = 1440;

const unixSeconds = z.coerce.number().int().min(0).max(4_102_444_800);

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
  groupBy: z.enum(GROUP_BY).optional(),
  /** live requests or drill probes only; absent = both */
  traffic: z.enum(TRAFFIC).optional(),
  /** one store only (a stores.id; unknown → 400); absent = every store */
  store: storeIdSchema.optional(),
});

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

const alertsQuerySchema = z.object({
  state: z.enum(["pending", "firing", "resolved"]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
const alertIdSchema = z.object({ id: z.string().min(1) });
const silenceSchema = z.object({
  minutes: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60),
});

/** Admin answers are described loosely: their fields follow the D1 rollups (edge/metrics/queries.ts). */
const anyObject = z.object({}).passthrough();

describeRoute({
  method: "get",
  path: "/admin/metrics",
  access: "admin",
  summary: "Time series: counts, rates, stage percentiles, cache hit ratio, CTR, conversion",
  query: metricsQueryFields,
  responses: { 200: json("the rollup series and the collector state", anyObject) },
});
describeRoute({
  method: "get",
  path: "/admin/alerts",
  access: "admin",
  summary: "Alert state (firing first)",
  query: alertsQuerySchema,
  responses: { 200: json("alerts", z.object({ alerts: z.array(anyObject) })) },
});
describeRoute({
  method: "post",
  path: "/admin/alerts/:id/silence",
  access: "admin",
  summary: "Silence an alert for some minutes",
  params: alertIdSchema,
  body: silenceSchema,
  responses: { 200: json("silenced", z.object({ id: z.string(), silencedUntil: z.number().int() })) },
});

export const adminMetrics = new Hono<AppEnv>();

adminMetrics.use("*", requireAdmin);

adminMetrics.get("/metrics", zValidator("query", metricsQuerySchema, zodHook), async (c) => {
  const q = c.req.valid("query");
  if (q.store !== undefined && resolveStore(await storeSet(c.env), q.store) === undefined) {
    const message = `unknown store ${JSON.stringify(q.store)}`;
    return invalidRequest(c, message, [{ path: "store", message, code: "unknown_store" }]);
  }
  const flush = await flushNow(c.env.DB).catch((err: unknown) => ({ error: String(err) }));
  const cfg = config(c.env).metrics;
  const result = await queryRollup(c.env.DB, q, cfg.minuteRetentionS, Math.floor(Date.now() / 1000));
  return c.json({ ...result, collector: { ...collectorState(), lastFlush: flush } });
});

adminMetrics.get("/alerts", zValidator("query", alertsQuerySchema, zodHook), async (c) => {
  const q = c.req.valid("query");
  return c.json({ alerts: await listAlerts(c.env.DB, q.state, q.limit) });
});

adminMetrics.post("/alerts/:id/silence", zValidator("json", silenceSchema, zodHook), async (c) => {
  const until = Math.floor(Date.now() / 1000) + c.req.valid("json").minutes * 60;
  const ok = await silenceAlert(c.env.DB, c.req.param("id"), until);
  if (!ok) return c.json({ error: "not_found", message: "no such alert" }, 404);
  return c.json({ id: c.req.param("id"), silencedUntil: until });
});
