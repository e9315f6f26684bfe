/** Worker entry: the Hono app for fetch, the cron dispatcher for scheduled, and the Durable Object classes. */
import { app } from "./app";
import type { Bindings } from "./env";
import { runScheduled } from "./scheduled";

export { EventsBuffer } from "./events/buffer-object";

export default {
  fetch: app.fetch,
  scheduled: (controller, env, ctx) => runScheduled(controller, env, ctx),
} satisfies ExportedHandler<Bindings>;
