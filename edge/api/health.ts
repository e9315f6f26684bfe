/** GET /healthz and GET /openapi.json — the HTTP contract (handlers: edge/routes/health.ts, edge/app.ts). */
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
  requestId: z.string(),
});

export const healthRoute = defineRoute("page", "get", "/healthz", {
  summary: "Liveness: served model versions and GPU tier reachability (always 200 while the worker runs)",
  responses: { 200: json("health", healthSchema) },
});

export const openapiRoute = defineRoute("page", "get", "/openapi.json", {
  summary: "This API description (OpenAPI 3.1)",
  responses: { 200: json("the OpenAPI document", z.object({ openapi: z.string() }).passthrough()) },
});
