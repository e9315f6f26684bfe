/**
 * Alerts on the durable events buffer (edge/events/buffer-object.ts), evaluated with the other rules every minute
 * (edge/metrics/jobs.ts):
 *   events_dead_letters (ticket)   payloads that kept failing while D1 took others were set aside: accepted events
 *                                  that are not in D1 and will not get there by themselves (GET /admin/events/buffer
 *                                  counts them; README "D1 faults")
 *   events_buffer_backlog (page)   the oldest payload held for D1 is older than EVENTS_BACKLOG_ALERT_S (600 s): D1
 *                                  has refused the buffer's writes that long, and everything it holds is accepted
 *                                  and not yet in D1
 * Both resolve by themselves once the figure is back to nothing (dead letters are cleared by erasure or by hand).
 */
import type { Condition } from "../metrics/condition";
import type { BufferState } from "./buffer-object";

export function eventsBufferConditions(state: BufferState, backlogAlertS: number, nowMs: number): Condition[] {
  const ageS = state.oldestHeldAt === null ? 0 : Math.max(0, Math.round((nowMs - state.oldestHeldAt) / 1000));
  return [
    {
      id: "events:dead_letters",
      rule: "events_dead_letters",
      kind: "events",
      severity: "ticket",
      active: state.deadLetters > 0,
      value: state.deadLetters,
      threshold: 0,
      forS: 0,
      summary: `${state.deadLetters} accepted event payload(s) dead-lettered in the durable buffer: they kept failing while D1 took others (GET /admin/events/buffer)`,
      labels: {},
    },
    {
      id: "events:buffer_backlog",
      rule: "events_buffer_backlog",
      kind: "events",
      severity: "page",
      active: ageS > backlogAlertS,
      value: ageS,
      threshold: backlogAlertS,
      forS: 0,
      summary: `the durable events buffer has held ${state.pendingEvents} accepted event(s) for D1 for ${ageS} s (> ${backlogAlertS} s): D1 refuses its writes`,
      labels: {},
    },
  ];
}
