/** The EVERY_MINUTE metrics job: flush this isolate, compact, apply retention, evaluate alerts. */
import { config } from "../config";
import type { Bindings } from "../env";
import { evaluateAlerts } from "./alerts";
import { flushEvents } from "../events/writer";
import { flushNow } from "./collector";
import { applyRetention, compactHours } from "./maintenance";

export async function runMetricsMaintenance(
  env: Bindings,
  _ctx: ExecutionContext,
  scheduledTime: number,
): Promise<void> {
  const now = Math.floor(scheduledTime / 1000);
  const cfg = config(env).metrics;
  await flushEvents(env.DB); // events a request could not write (their feedback counts ride with the next flush)
  await flushNow(env.DB);
  await compactHours(env.DB, now);
  await applyRetention(env.DB, cfg, now);
  await evaluateAlerts(env.DB, cfg, now);
}
