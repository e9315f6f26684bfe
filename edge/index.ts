/** Worker entry: the Hono app for fetch, the cron dispatcher for scheduled. */
import { app } from "./app";
import type { Bindings } from "./env";
import { runScheduled } from "./scheduled";

export default {
  fetch: app.fetch,
  scheduled: (controller, env, ctx) => runScheduled(controller, env, ctx),
} satisfies ExportedHandler<Bindings>;
