/** POST /v1/events: parse (edge/api/events.ts), accept (edge/events/accept.ts), 202 — or 404 for an unknown store. */
import { eventsRoute } from "../api/events";
import { createApi, unknownStore } from "../api/openapi";
import { acceptEvents } from "../events/accept";

export const events = createApi();

events.openapi(eventsRoute, async (c) => {
  const body = c.req.valid("json");
  const out = await acceptEvents(c.env, c.executionCtx as ExecutionContext, body.events);
  if (!out.ok) return unknownStore(c, out.unknownStores, "events.store");
  return c.json({ accepted: body.events.length, pending: out.pending, requestId: c.get("requestId") }, 202);
});
