/**
 * Alert rules, state and notifications. Every evaluation turns rules into conditions (id, active?, value); the
 * state machine per id is: (none|resolved) → pending → firing → resolved, with `forS` seconds of pending before
 * firing (0 = fire at once). Notifications go to ALERT_WEBHOOK_URL (Slack-compatible {text, ...}) on fire and on
 * resolve, unless the alert is silenced.
 */
import { drizzle } from "drizzle-orm/d1";
import { desc, eq, inArray } from "drizzle-orm";
import { alerts } from "../db/schema-metrics";
import { MINUTE } from "./aggregate";
import { detectAnomaly, type AnomalyOptions, type VolumePoint } from "./anomaly";
import { evaluateBurnRates, windowLengths, type SliWindow } from "./burn-rate";
import type { MetricsConfig } from "../config";
import { scoreDrift } from "./drift";
import type { Condition } from "./condition";
import { feedbackDropConditions, trafficDropConditions } from "./business";
import { gpuMemoryConditions } from "./gpu-resources";
import { routingConditions } from "./geo-alert";
import { queryCells, toPoint, windowCell, emptyCell } from "./queries";

export type AlertState = "pending" | "firing" | "resolved";
export type AlertRow = typeof alerts.$inferSelect;

export type { Condition } from "./condition";

/**
 * SLO burn-rate conditions for availability (non-degraded 2xx among non-4xx) and latency (total ≤ threshold), over
 * live traffic only: drill probes (degraded and slow by design) never burn the error budget.
 */
export async function sloConditions(db: D1Database, cfg: MetricsConfig, now: number): Promise<Condition[]> {
  const end = now - (now % MINUTE) + MINUTE;
  const avail = new Map<number, SliWindow>();
  const lat = new Map<number, SliWindow>();
  for (const len of windowLengths()) {
    const c = await windowCell(db, end - len, end, cfg.minuteRetentionS, now, "live");
    const valid = c.req.requests - c.req.status4xx;
    avail.set(len, { valid, bad: valid - c.req.good });
    const total = c.stages.get("total");
    const n = total?.count ?? 0;
    lat.set(len, { valid: n, bad: n - (total?.countAtMost(cfg.latencyThresholdMs) ?? 0) });
  }
  const out: Condition[] = [];
  for (const [sli, windows, target] of [
    ["availability", avail, cfg.availabilityTarget],
    ["latency", lat, cfg.latencyTarget],
  ] as const) {
    for (const e of evaluateBurnRates(windows, target)) {
      out.push({
        id: `slo:${sli}:${e.pair.name}`,
        rule: `slo_burn_${sli}`,
        kind: "slo",
        severity: e.pair.severity,
        active: e.firing,
        value: Math.min(e.longBurn, e.shortBurn),
        threshold: e.pair.factor,
        forS: 0,
        summary: `${sli} SLO (target ${target}${sli === "latency" ? `, ≤ ${cfg.latencyThresholdMs} ms` : ""}) burning ${e.longBurn.toFixed(1)}× over ${e.pair.name.split("-")[0]} and ${e.shortBurn.toFixed(1)}× over ${e.pair.name.split("-")[1]} (threshold ${e.pair.factor}×)`,
        labels: { sli, windows: e.pair.name },
      });
    }
  }
  return out;
}

const ANOMALY_HISTORY_MIN = 60;

/** EWMA z-score conditions on the newest complete minute of live traffic: degraded rate, 5xx rate, GPU-call p99. */
export async function anomalyConditions(db: D1Database, cfg: MetricsConfig, now: number): Promise<Condition[]> {
  const latestMinute = now - (now % MINUTE) - MINUTE;
  const from = latestMinute - ANOMALY_HISTORY_MIN * MINUTE;
  const { cells } = await queryCells(
    db,
    { from, to: latestMinute + MINUTE, step: MINUTE, traffic: "live" },
    cfg.minuteRetentionS,
    now,
  );
  const byStep = cells.get("all") ?? new Map();
  const points = Array.from({ length: ANOMALY_HISTORY_MIN + 1 }, (_, b) =>
    toPoint(from + b * MINUTE, MINUTE, byStep.get(b) ?? emptyCell()),
  );
  const metrics: Array<{
    name: string;
    pick: (p: ReturnType<typeof toPoint>) => VolumePoint;
    minStd: number;
    unit: string;
  }> = [
    { name: "degraded_rate", pick: (p) => ({ value: p.degradedRate, volume: p.count }), minStd: 0.01, unit: "" },
    { name: "error_rate", pick: (p) => ({ value: p.errorRate, volume: p.count }), minStd: 0.01, unit: "" },
    {
      name: "gpu_p99",
      pick: (p) => ({ value: p.latencyMs.gpu.p99, volume: p.latencyMs.gpu.count }),
      minStd: 5,
      unit: " ms",
    },
  ];
  return metrics.map((m) => {
    const opts: AnomalyOptions = {
      alpha: 0.1,
      zThreshold: cfg.anomalyZ,
      minVolume: cfg.anomalyMinVolume,
      minHistory: 5,
      minStd: m.minStd,
    };
    const series = points.map(m.pick);
    const latest = series[series.length - 1]!;
    const r = detectAnomaly(series.slice(0, -1), latest, opts);
    return {
      id: `anomaly:${m.name}`,
      rule: `anomaly_${m.name}`,
      kind: "anomaly" as const,
      severity: "ticket" as const,
      active: r.firing,
      value: r.z,
      threshold: cfg.anomalyZ,
      forS: 0,
      summary:
        r.z === null
          ? `${m.name}: not enough volume`
          : `${m.name} ${r.latest?.toFixed(4)}${m.unit} vs EWMA ${r.mean?.toFixed(4)}${m.unit} (z = ${r.z.toFixed(1)}, threshold ${cfg.anomalyZ})`,
      labels: { metric: m.name },
    };
  });
}

export async function driftConditions(db: D1Database, cfg: MetricsConfig, now: number): Promise<Condition[]> {
  const figures = await scoreDrift(db, now);
  return figures.map((f) => ({
    id: `drift:${f.kind}:${f.model}`,
    rule: "score_drift_psi",
    kind: "drift" as const,
    severity: "ticket" as const,
    active:
      f.psi !== null &&
      f.current >= cfg.driftMinSamples &&
      f.reference >= cfg.driftMinSamples &&
      f.psi > cfg.driftPsiThreshold,
    value: f.psi,
    threshold: cfg.driftPsiThreshold,
    forS: 0,
    summary: `${f.kind} scores of ${f.model}: PSI ${f.psi?.toFixed(3) ?? "n/a"} (last hour ${f.current} vs reference ${f.reference})`,
    labels: { kind: f.kind, model: f.model },
  }));
}

export interface Transition {
  id: string;
  from: AlertState | null;
  to: AlertState;
  notify: boolean;
}

/** What one alert id changes to: the row to write (if any) and the transition made (if any). */
interface Step {
  write?: AlertRow;
  transition?: Transition;
}

const silenced = (row: AlertRow | undefined, now: number): boolean => (row?.silencedUntil ?? 0) > now;

/** A condition applied to the stored row of its id (none | resolved → pending → firing → resolved). */
function conditionStep(row: AlertRow | undefined, c: Condition, now: number, webhookUrl: string | undefined): Step {
  const state = (row?.state ?? null) as AlertState | null;
  const base: AlertRow = row ?? {
    id: c.id,
    rule: c.rule,
    kind: c.kind,
    severity: c.severity,
    state: "resolved",
    summary: c.summary,
    value: null,
    threshold: c.threshold,
    pendingSince: null,
    firedAt: null,
    resolvedAt: null,
    updatedAt: now,
    silencedUntil: null,
    notifiedState: null,
    labels: "{}",
  };
  const next: AlertRow = {
    ...base,
    summary: c.summary,
    value: c.value,
    threshold: c.threshold,
    updatedAt: now,
    labels: JSON.stringify(c.labels),
    severity: c.severity,
  };
  let to: AlertState | null = null;
  if (c.active) {
    if (state === null || state === "resolved") {
      next.pendingSince = now;
      next.resolvedAt = null;
      to = c.forS <= 0 ? "firing" : "pending";
    } else if (state === "pending" && now - (row?.pendingSince ?? now) >= c.forS) to = "firing";
  } else if (state === "pending" || state === "firing") to = "resolved";
  let transition: Transition | undefined;
  if (to) {
    next.state = to;
    if (to === "firing") next.firedAt = now;
    if (to === "resolved") next.resolvedAt = now;
    const notify = (to === "firing" || (to === "resolved" && state === "firing")) && !silenced(row, now);
    if (notify && webhookUrl) next.notifiedState = to;
    transition = { id: c.id, from: state, to, notify };
  }
  return { ...(row || c.active ? { write: next } : {}), ...(transition ? { transition } : {}) };
}

/** An open (pending or firing) alert resolved without a condition: its rule no longer applies, or it passed. */
function resolveStep(row: AlertRow, now: number, webhookUrl: string | undefined): Step {
  const notify = row.state === "firing" && !silenced(row, now);
  return {
    write: {
      ...row,
      state: "resolved",
      resolvedAt: now,
      updatedAt: now,
      notifiedState: notify && webhookUrl ? "resolved" : row.notifiedState,
    },
    transition: { id: row.id, from: row.state as AlertState, to: "resolved", notify },
  };
}

/** Writes the rows in one batch, then notifies the webhook of the transitions that call for it. */
async function commit(d1: D1Database, steps: Step[], webhookUrl: string | undefined): Promise<Transition[]> {
  const db = drizzle(d1);
  const writes = steps.flatMap((s) => (s.write ? [s.write] : []));
  const transitions = steps.flatMap((s) => (s.transition ? [s.transition] : []));
  const stmts = writes.map((w) =>
    db
      .insert(alerts)
      .values(w)
      .onConflictDoUpdate({ target: alerts.id, set: { ...w } }),
  );
  const [first, ...rest] = stmts;
  if (first) await db.batch([first, ...rest]);
  if (webhookUrl) {
    const rows = new Map(writes.map((w) => [w.id, w]));
    await Promise.allSettled(transitions.filter((t) => t.notify).map((t) => notify(webhookUrl, rows.get(t.id)!, t)));
  }
  return transitions;
}

async function storedAlert(d1: D1Database, id: string): Promise<AlertRow | undefined> {
  const [row] = await drizzle(d1).select().from(alerts).where(eq(alerts.id, id)).limit(1);
  return row;
}

/**
 * Alert kinds raised and resolved by their owners (the drill runner, the release ticks; the events buffer's state,
 * passed in as `extra` when the buffer answered), not resolved by a round that does not state them.
 */
const OWNED_KINDS = new Set(["drill", "release", "events"]);

/**
 * Applies one evaluation round's conditions to stored state; returns the transitions made (and notifies when a
 * webhook is set). Open alerts of the evaluated kinds that got no condition this round resolve; drill and release
 * alerts are raised and resolved by their owners (raiseAlert / resolveAlert) and left alone here.
 */
export async function applyConditions(
  d1: D1Database,
  conditions: Condition[],
  now: number,
  webhookUrl?: string,
): Promise<Transition[]> {
  const db = drizzle(d1);
  const open = await db
    .select()
    .from(alerts)
    .where(inArray(alerts.state, ["pending", "firing"]));
  const ids = conditions.map((c) => c.id);
  const known = ids.length ? await db.select().from(alerts).where(inArray(alerts.id, ids)) : [];
  const byId = new Map<string, AlertRow>([...known, ...open].map((r) => [r.id, r]));
  const seen = new Set(ids);
  const steps = conditions.map((c) => conditionStep(byId.get(c.id), c, now, webhookUrl));
  for (const row of open)
    if (!seen.has(row.id) && !OWNED_KINDS.has(row.kind)) steps.push(resolveStep(row, now, webhookUrl));
  return commit(d1, steps, webhookUrl);
}

/** Fires (or keeps firing) one alert outside an evaluation round, e.g. a failed drill. */
export async function raiseAlert(
  d1: D1Database,
  alert: Omit<Condition, "active">,
  now: number,
  webhookUrl?: string,
): Promise<Transition | undefined> {
  const step = conditionStep(await storedAlert(d1, alert.id), { ...alert, active: true }, now, webhookUrl);
  return (await commit(d1, [step], webhookUrl))[0];
}

/** Resolves one alert if it is open (pending or firing), e.g. a drill that passed again. */
export async function resolveAlert(
  d1: D1Database,
  id: string,
  now: number,
  webhookUrl?: string,
): Promise<Transition | undefined> {
  const row = await storedAlert(d1, id);
  if (!row || (row.state !== "pending" && row.state !== "firing")) return undefined;
  return (await commit(d1, [resolveStep(row, now, webhookUrl)], webhookUrl))[0];
}

async function notify(url: string, alert: AlertRow, t: Transition): Promise<void> {
  const icon = t.to === "firing" ? ":rotating_light:" : ":white_check_mark:";
  const body = {
    text: `${icon} [${t.to.toUpperCase()}] ${alert.severity} ${alert.id}: ${alert.summary}`,
    alert: {
      id: alert.id,
      rule: alert.rule,
      kind: alert.kind,
      severity: alert.severity,
      state: t.to,
      value: alert.value,
      threshold: alert.threshold,
      labels: JSON.parse(alert.labels) as unknown,
    },
  };
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) console.warn("alert webhook answered", res.status);
}

/** Runs every rule (plus `extra`, conditions their owners evaluated: the events buffer's) and applies the result. */
export async function evaluateAlerts(
  d1: D1Database,
  cfg: MetricsConfig,
  now: number,
  extra: Condition[] = [],
): Promise<Transition[]> {
  const conditions = [
    ...extra,
    ...(await sloConditions(d1, cfg, now)),
    ...(await anomalyConditions(d1, cfg, now)),
    ...(await driftConditions(d1, cfg, now)),
    ...(await trafficDropConditions(d1, cfg, now)),
    ...(await feedbackDropConditions(d1, cfg, now)),
    ...(await gpuMemoryConditions(d1, cfg, now)),
    ...(await routingConditions(d1, cfg, now)),
  ];
  return applyConditions(d1, conditions, now, cfg.alertWebhookUrl);
}

export async function listAlerts(
  d1: D1Database,
  state?: AlertState,
  limit = 100,
): Promise<Array<Omit<AlertRow, "labels"> & { labels: unknown }>> {
  const db = drizzle(d1);
  const q = db.select().from(alerts);
  const rows = await (state ? q.where(eq(alerts.state, state)) : q).orderBy(desc(alerts.updatedAt)).limit(limit);
  const order: Record<string, number> = { firing: 0, pending: 1, resolved: 2 };
  return rows
    .sort((a, b) => (order[a.state] ?? 3) - (order[b.state] ?? 3))
    .map((r) => ({ ...r, labels: JSON.parse(r.labels) as unknown }));
}

export async function silenceAlert(d1: D1Database, id: string, until: number): Promise<boolean> {
  const db = drizzle(d1);
  const res = await db
    .update(alerts)
    .set({ silencedUntil: until })
    .where(eq(alerts.id, id))
    .returning({ id: alerts.id });
  return res.length > 0;
}
