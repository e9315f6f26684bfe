/**
 * POST /v1/events: parse (edge/api/events.ts), accept (edge/events/accept.ts), 202 once D1 or the durable buffer took
 * the events — or 404 for an unknown store, 503 (Retry-After) when neither could take them.
 */
import { eventsRoute } from "../api/events";
import { createApi, unknownStore } from "../api/openapi";
import { acceptEvents } from "../events/accept";

export const events = createApi();

events.openapi(eventsRoute, async (c) => {
  const body = c.req.valid("json");
  const out = await acceptEvents(c.env, c.executionCtx as ExecutionContext, body.events);
  if (!out.ok && "unknownStores" in out) return unknownStore(c, out.unknownStores, "events.store");
  if (!out.ok) {
    c.header("Retry-After", "1");
    const message = "the events were not accepted: the database and the durable buffer are both unavailable; retry";
    return c.json({ error: "events_unavailable", message, requestId: c.get("requestId") }, 503);
  }
  const { buffered, pending } = out;
  return c.json({ accepted: body.events.length, buffered, pending, requestId: c.get("requestId") }, 202);
});
