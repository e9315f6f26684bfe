/**
 * The durable events buffer, admin (bearer ADMIN_TOKEN) — the HTTP contract (handler: edge/routes/admin-events.ts;
 * the buffer: edge/events/buffer-object.ts):
 *  GET /admin/events/buffer   what it holds: payloads and events not yet in D1, the oldest's age, dead letters
 */
import { defineRoute, json, z } from "./openapi";

const bufferStateSchema = z
  .object({
    pendingPayloads: z.number().int().openapi({ description: "payloads held, not yet in D1" }),
    pendingEvents: z.number().int(),
    oldestHeldAt: z.number().int().nullable().openapi({ description: "unix ms the oldest held payload came in" }),
    deadLetters: z.number().int().openapi({ description: "payloads that kept failing while D1 took others" }),
  })
  .openapi("EventsBufferState");

export const eventsBufferRoute = defineRoute("admin", "get", "/events/buffer", {
  summary: "The durable events buffer: events accepted while D1 failed and not yet written, dead letters",
  responses: { 200: json("the buffer's state", bufferStateSchema) },
});
