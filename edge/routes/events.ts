/**
 * POST /v1/events — feedback events (impression, click, add_to_cart, purchase) for search responses. Validated with
 * zod (400 JSON on bad input), aggregated in the isolate per variant and model version, flushed like request metrics.
 */
import { Hono } from "hono";
import { zValidator } from "@hono/zod-validator";
import { z } from "zod";
import type { AppEnv } from "../env";
import { zodHook } from "../middleware/errors";
import { recordFeedback } from "../metrics/collector";
import { describeRoute, json } from "../openapi/registry";

const label = z.string().trim().min(1).max(128);
/** variant/model as echoed from the search response: may be empty (e.g. no heavy model) → "unknown". */
const echoed = z
  .string()
  .trim()
  .max(128)
  .optional()
  .transform((v) => (v ? v : undefined));

export const feedbackEventSchema = z
  .object({
    type: z.enum(["impression", "click", "add_to_cart", "purchase"]),
    requestId: label,
    productId: label,
    position: z.number().int().min(0).max(10_000),
    variant: echoed,
    model: echoed,
  })
  .strict();

export const eventsBodySchema = z.object({ events: z.array(feedbackEventSchema).min(1).max(500) }).strict();

describeRoute({
  method: "post",
  path: "/v1/events",
  access: "public",
  summary: "Feedback events (impression, click, add_to_cart, purchase) for search responses",
  body: eventsBodySchema,
  responses: { 202: json("accepted", z.object({ accepted: z.number().int() })) },
});

export type FeedbackEvent = z.infer<typeof feedbackEventSchema>;

export const events = new Hono<AppEnv>();

events.post("/events", zValidator("json", eventsBodySchema, zodHook), (c) => {
  const body = c.req.valid("json");
  for (const e of body.events)
    recordFeedback(c.env, c.executionCtx as ExecutionContext, e.type, e.variant ?? "unknown", e.model ?? "unknown");
  return c.json({ accepted: body.events.length }, 202);
});
