/**
 * POST /v1/events — feedback and purchase events `{"events": [{type, productId, store?, user?, eventId?, requestId?,
 * position?, ts?, variant?, model?}, …]}` (1–500 per body). zod-validated (400 JSON naming the field); `store`
 * defaults to the default store, an unknown one is a 404 `unknown_store`; `requestId` + `position` mark an event
 * on a served list (search feedback), `variant` / `model` echo that response (→ "unknown" when absent).
 *
 * The events of one request become one payload written to D1 at once (edge/events/apply.ts: dedupe by eventId,
 * purchase / add_to_cart with a user → recs_history) through the metrics flush mechanism (edge/events/writer.ts):
 * if D1 fails the payload stays queued in the isolate and is retried, the answer is still 202 with `pending` > 0.
 * Non-repeated events are counted in the feedback rollups (CTR / conversion per variant and model).
 */
import { Hono } from "hono";
import { zValidator } from "@hono/zod-validator";
import { z } from "zod";
import type { AppEnv } from "../env";
import { zodHook } from "../middleware/errors";
import { scheduleFlush } from "../metrics/collector";
import { eventsPayload, type StoredEvent } from "../events/apply";
import { writeEvents } from "../events/writer";
import { describeRoute, errorSchemas, json } from "../openapi/registry";
import { resolveStore, storeIdSchema, storeSet, unknownStore } from "../stores/resolve";

const label = z.string().trim().min(1).max(128);
/** variant/model as echoed from the search response: may be empty (e.g. no heavy model) → "unknown". */
const echoed = z
  .string()
  .trim()
  .max(128)
  .optional()
  .transform((v) => (v ? v : undefined));
/** Client clocks may run a little ahead; a timestamp further in the future than this is refused. */
const MAX_CLOCK_SKEW_MS = 86_400_000;

export const feedbackEventSchema = z
  .object({
    type: z.enum(["impression", "click", "add_to_cart", "purchase"]),
    productId: label,
    store: storeIdSchema.optional(),
    /** the shopper (a customer id may come as a number) */
    user: z.union([label, z.number().int().nonnegative()]).transform(String).optional(),
    /** client-chosen id: an event repeated with the same id (per store) is counted once */
    eventId: label.optional(),
    requestId: label.optional(),
    position: z.number().int().min(0).max(10_000).optional(),
    /** event time: epoch milliseconds or an ISO 8601 date-time; default = when the edge received it */
    ts: z
      .union([
        z.number().int().min(0),
        z
          .string()
          .datetime({ offset: true })
          .transform((s) => Date.parse(s)),
      ])
      .refine((t) => t <= Date.now() + MAX_CLOCK_SKEW_MS, "ts is in the future")
      .optional(),
    variant: echoed,
    model: echoed,
  })
  .strict()
  .refine((e) => e.position === undefined || e.requestId !== undefined, {
    message: "position is only for events on a served list: send requestId with it",
    path: ["position"],
  });

export const eventsBodySchema = z.object({ events: z.array(feedbackEventSchema).min(1).max(500) }).strict();

describeRoute({
  method: "post",
  path: "/v1/events",
  access: "public",
  summary: "Feedback and purchase events: history in D1 at once (purchase, add_to_cart with a user), CTR / conversion",
  body: eventsBodySchema,
  responses: {
    202: json(
      "accepted; `pending` > 0 = the write is queued in the isolate and retried (D1 failed)",
      z.object({ accepted: z.number().int(), pending: z.number().int(), requestId: z.string() }),
    ),
    404: json("an event names a store that does not exist (error unknown_store)", errorSchemas.NotFound),
  },
});

export type FeedbackEvent = z.infer<typeof feedbackEventSchema>;

export const events = new Hono<AppEnv>();

events.post("/events", zValidator("json", eventsBodySchema, zodHook), async (c) => {
  const body = c.req.valid("json");
  const stores = await storeSet(c.env);
  const unknown = body.events.flatMap((e) => (resolveStore(stores, e.store) === undefined ? [e.store ?? ""] : []));
  if (unknown.length > 0) return unknownStore(c, unknown, "events.store");
  const now = Date.now();
  const stored: StoredEvent[] = body.events.map((e) => ({
    store: resolveStore(stores, e.store)!,
    type: e.type,
    productId: e.productId,
    ...(e.user !== undefined ? { user: e.user } : {}),
    ...(e.eventId !== undefined ? { eventId: e.eventId } : {}),
    tsMs: e.ts ?? now,
    variant: e.variant ?? "unknown",
    model: e.model ?? "unknown",
  }));
  const payload = eventsPayload(stored, now);
  const report = await writeEvents(c.env.DB, payload);
  scheduleFlush(c.env, c.executionCtx as ExecutionContext);
  return c.json({ accepted: body.events.length, pending: report.pending, requestId: c.get("requestId") }, 202);
});
