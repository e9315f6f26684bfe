/**
 * Cron dispatch. wrangler.toml [triggers].crons lists the schedules; each maps to the jobs it runs.
 * Areas register their jobs here (metrics maintenance, release canary ticks and the stores' live recommendation
 * tables, their last-known-good recommendation lists and the durable events buffer's drain every minute, failover
 * drills every 15 minutes).
 */
import { app } from "./app";
import type { Bindings } from "./env";
import { drainEventsBuffer } from "./events/writer";
import { runMetricsMaintenance } from "./metrics/jobs";
import { runScheduledDrills } from "./drills/runner";
import { refreshLiveRecs } from "./recs/live";
import { refreshLastKnownGood } from "./recs/last-known-good";
import { tickReleases } from "./releases/tick";
import { scrapeGpuResources } from "./metrics/gpu-resources";

export type ScheduledJob = (env: Bindings, ctx: ExecutionContext, scheduledTime: number) => Promise<void>;

export const EVERY_MINUTE = "* * * * *";
export const DRILL_SCHEDULE = "*/15 * * * *";

const jobs: Record<string, ScheduledJob[]> = {
  [EVERY_MINUTE]: [
    runMetricsMaintenance,
    tickReleases,
    refreshLiveRecs,
    refreshLastKnownGood,
    drainEventsBuffer,
    scrapeGpuResources,
  ],
  [DRILL_SCHEDULE]: [async (env, ctx) => void (await runScheduledDrills(app.fetch, env, ctx))],
};

export async function runScheduled(
  controller: ScheduledController,
  env: Bindings,
  ctx: ExecutionContext,
): Promise<void> {
  const list = jobs[controller.cron] ?? [];
  const results = await Promise.allSettled(list.map((job) => job(env, ctx, controller.scheduledTime)));
  for (const r of results)
    if (r.status === "rejected") console.error("scheduled job failed", controller.cron, r.reason);
}
