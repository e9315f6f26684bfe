/** GET /healthz, GET /livez and GET /openapi.json — the HTTP contract (handlers: edge/routes/health.ts, edge/app.ts). */
import { defineRoute, json, z } from "./openapi";

const healthSchema = z.object({
  status: z.enum(["ok", "degraded"]),
  models: z.object({
    light: z.array(z.string()),
    lightLoaded: z.array(z.string()),
    defaultLight: z.string(),
    defaultHeavy: z.string(),
    variants: z.array(z.object({ name: z.string(), light: z.string(), heavy: z.string(), weight: z.number() })),
    experiment: z.string().nullable(),
  }),
  gpu: z.object({ reachable: z.boolean() }).passthrough(),
  dependencies: z.object({
    d1: z.object({
      ok: z.boolean(),
      /** the isolate's D1 circuit breaker */
      breaker: z.enum(["closed", "open", "half-open"]),
      /** the `select 1` probe's time (ms) */
      ms: z.number(),
      error: z.string().optional(),
    }),
    gpu: z.object({ ok: z.boolean() }),
  }),
  /** the dependencies that are not ok (empty when status is "ok") */
  failing: z.array(z.enum(["d1", "gpu"])),
  requestId: z.string(),
});

export const healthRoute = defineRoute("page", "get", "/healthz", {
  summary:
    "Readiness: served model versions and each dependency's state — D1 (a `select 1` within D1_DEADLINE_MS, its breaker) and the GPU tier; always 200, `status` degraded when one fails",
  responses: { 200: json("health", healthSchema) },
});

export const livezRoute = defineRoute("page", "get", "/livez", {
  summary: "Liveness: the worker answers (touches neither D1 nor the GPU tier)",
  responses: { 200: json("alive", z.object({ status: z.literal("ok"), requestId: z.string() })) },
});

export const openapiRoute = defineRoute("page", "get", "/openapi.json", {
  summary: "This API description (OpenAPI 3.1)",
  responses: { 200: json("the OpenAPI document", z.object({ openapi: z.string() }).passthrough()) },
});
