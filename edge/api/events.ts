/**
 * POST /v1/events — the HTTP contract (handler: edge/routes/events.ts; what happens to the events:
 * edge/events/accept.ts). `{"events": [{type, productId, store?, user?, eventId?, requestId?, position?, ts?,
 * variant?, model?}, …]}`, 1–500 per body; `requestId` + `position` mark an event on a served list (search
 * feedback), `variant` / `model` echo that response (→ "unknown" when absent).
 */
import { defineRoute, errorSchemas, json, jsonBody, z } from "./openapi";
import { storeId } from "./params";

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
    store: storeId.optional(),
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

export type FeedbackEvent = z.infer<typeof feedbackEventSchema>;

export const eventsRoute = defineRoute("public", "post", "/events", {
  summary: "Feedback and purchase events: history in D1 at once (purchase, add_to_cart with a user), CTR / conversion",
  description:
    "202 only once the events are durable: written to D1, or — when D1 fails — held by the durable events buffer " +
    "(a Durable Object), which writes them to D1 as soon as it can (exactly once: dedupe by payload and eventId).",
  request: { body: jsonBody(eventsBodySchema) },
  responses: {
    202: json(
      "accepted and durable; `buffered` > 0 = D1 failed and the durable buffer holds these events (they reach D1 " +
        "when it recovers); `pending` = payloads the buffer still holds",
      z.object({
        accepted: z.number().int(),
        buffered: z.number().int(),
        pending: z.number().int(),
        requestId: z.string(),
      }),
    ),
    404: json("an event names a store that does not exist (error unknown_store)", errorSchemas.NotFound),
    503: json(
      "not accepted: neither D1 nor the durable buffer took the events (error events_unavailable); retry after " +
        "Retry-After — send eventIds so a retry never counts twice",
      errorSchemas.Unavailable,
    ),
  },
});
