/** The durable events buffer, admin side (edge/api/admin-events.ts). */
import { eventsBufferRoute } from "../api/admin-events";
import { createAdminApi } from "../api/openapi";
import { eventsBuffer } from "../events/writer";

export const adminEvents = createAdminApi();

adminEvents.openapi(eventsBufferRoute, async (c) => c.json(await eventsBuffer(c.env).state(), 200));
