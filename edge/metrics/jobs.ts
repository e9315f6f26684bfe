/** The EVERY_MINUTE metrics job: flush this isolate, compact, apply retention, evaluate alerts. */
import type { Bindings } from "../env";
import { evaluateAlerts } from "./alerts";
import { flushNow } from "./collector";
import { metricsConfig } from "./config";
import { applyRetention, compactHours } from "./maintenance";

export async function runMetricsMaintenance(env: Bindings, _ctx: ExecutionContext, scheduledTime: number): Promise<void> {
  const now = Math.floor(scheduledTime / 1000);
  const cfg = metricsConfig(env);
  await flushNow(env.DB);
  await compactHours(env.DB, now);
  await applyRetention(env.DB, cfg, now);
  await evaluateAlerts(env, cfg, now);
}
