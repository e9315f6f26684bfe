/** The EVERY_MINUTE metrics job: flush this isolate, compact, apply retention, evaluate alerts. */
import { config } from "../config";
import { eventsBufferConditions } from "../events/buffer-alert";
import { eventsBuffer } from "../events/writer";
import type { Condition } from "./condition";
import type { Bindings } from "../env";
import { evaluateAlerts } from "./alerts";
import { flushNow } from "./collector";
import { applyRetention, compactHours } from "./maintenance";

export async function runMetricsMaintenance(
  env: Bindings,
  _ctx: ExecutionContext,
  scheduledTime: number,
): Promise<void> {
  const now = Math.floor(scheduledTime / 1000);
  const cfg = config(env).metrics;
  await flushNow(env.DB);
  await compactHours(env.DB, now);
  await applyRetention(env.DB, cfg, now);
  await evaluateAlerts(env.DB, cfg, now, await eventsBufferAlerts(env, scheduledTime));
}

/** The events buffer's alerts; none this round when the buffer does not answer (its state stays as last evaluated). */
async function eventsBufferAlerts(env: Bindings, scheduledTime: number): Promise<Condition[]> {
  try {
    return eventsBufferConditions(await eventsBuffer(env).state(), config(env).events.backlogAlertS, scheduledTime);
  } catch (err) {
    console.warn(JSON.stringify({ event: "events_buffer_alert_skipped", error: String(err) }));
    return [];
  }
}
