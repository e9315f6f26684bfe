/**
 * One tick of a release in canary — the same for the cron (every minute, every release in canary) and for
 * POST /admin/releases/:id/tick: flush this isolate's metrics, read the step window from the rollups, analyse it
 * (edge/releases/analysis.ts), apply the decision. A promote-step moves to the next step; past the last step — or
 * reaching a 100 % step, where no baseline traffic is left to compare with — the candidate is promoted. A rollback
 * sets the canary to 0 % in the same batch that records it, then fires the `release:<id>` alert (webhook).
 */
import { config } from "../config";
import type { Bindings } from "../env";
import { raiseAlert } from "../metrics/alerts";
import { flushNow } from "../metrics/collector";
import { invalidateExperimentConfig } from "../experiments/config";
import { analyseStep, type StepDecision, type StepFigures } from "./analysis";
import {
  applyTransition,
  getRelease,
  releaseDecisionsOf,
  releasesInCanary,
  releaseView,
  type ReleaseRow,
  type Transition,
} from "./store";
import { readStepWindow } from "./window";
import { resolveRefusalNotice } from "./notice";

export interface TickResult {
  id: string;
  /** what this tick decided; "promoted" when it promoted; null when the release was not in canary */
  decision: StepDecision | "promoted" | null;
  reasons: string[];
  figures: StepFigures | null;
  status: ReleaseRow["status"];
  stepIndex: number;
  /** the canary's weight after the tick, percent */
  weight: number;
  reason: string | null;
}

function result(r: ReleaseRow, decision: TickResult["decision"], reasons: string[], figures: StepFigures | null) {
  const v = releaseView(r);
  return {
    id: r.id,
    decision,
    reasons,
    figures,
    status: r.status,
    stepIndex: r.stepIndex,
    weight: v.weight,
    reason: r.reason,
  };
}

export async function tickRelease(env: Bindings, id: string, now = Date.now()): Promise<TickResult | undefined> {
  const r = await getRelease(env.DB, id);
  if (!r) return undefined;
  if (r.status !== "canary" || !r.canaryVariant) return result(r, null, [], null);
  await flushNow(env.DB).catch((err: unknown) => console.error("release tick: metrics flush", err));
  const cfg = config(env);
  const steps = JSON.parse(r.steps) as number[];
  const weight = (steps[r.stepIndex] ?? 0) / 100;
  const previousWeight = r.stepIndex > 0 ? (steps[r.stepIndex - 1] ?? 0) / 100 : 0;
  const input = await readStepWindow(env.DB, {
    store: r.store,
    canaryVariant: r.canaryVariant,
    baselineVariants: JSON.parse(r.baselineVariants ?? "[]") as string[],
    stepStartedAt: r.stepStartedAt ?? r.createdAt,
    releaseStartedAt: r.createdAt,
    previousWeight,
    weight,
    stepSeconds: r.stepSeconds,
    now,
    switchLagMs: cfg.experiments.versionCheckMs / 2,
    minuteRetentionS: cfg.metrics.minuteRetentionS,
  });
  const analysis = analyseStep(input, cfg.releases);
  const recorded = { reasons: analysis.reasons, ...analysis.figures };
  let transition: Transition | undefined;
  let decision: TickResult["decision"] = analysis.decision;
  if (analysis.decision === "rollback")
    transition = { kind: "rollback", reason: analysis.reasons.join("; "), figures: recorded };
  else if (analysis.decision === "promote-step") {
    const next = steps[r.stepIndex + 1];
    if (next === undefined || next >= 100) {
      transition = { kind: "promote", figures: recorded };
      decision = "promoted";
    } else transition = { kind: "step", figures: recorded };
  } else if (input.elapsedMs >= input.stepMs) {
    // a hold past the step window (not enough volume) is recorded once per step; holds inside the window are not
    const held = (await releaseDecisionsOf(env.DB, r.id)).some(
      (d) => d.stepIndex === r.stepIndex && d.decision === "hold",
    );
    if (!held) transition = { kind: "record", decision: "hold", figures: recorded };
  }
  if (transition && !(await applyTransition(env.DB, r, transition, now))) {
    // another tick changed the release first: answer its state
    const fresh = (await getRelease(env.DB, id)) ?? r;
    return result(fresh, null, ["the release changed during this tick; state re-read"], analysis.figures);
  }
  // this isolate sees the new weights at once; the others within CONFIG_VERSION_CHECK_S
  if (transition && transition.kind !== "record") invalidateExperimentConfig();
  const after = (await getRelease(env.DB, id)) ?? r;
  if (transition?.kind === "rollback") await alertRollback(env, after, now);
  if (transition?.kind === "promote") await resolveRefusalNotice(env, after, now);
  return result(after, decision, analysis.reasons, analysis.figures);
}

/** The rollback alert: fires `release:<id>` at once (page), notifying ALERT_WEBHOOK_URL. */
async function alertRollback(env: Bindings, r: ReleaseRow, now: number): Promise<void> {
  await raiseAlert(
    env.DB,
    {
      id: `release:${r.id}`,
      rule: "release_rollback",
      kind: "release",
      severity: "page",
      value: null,
      threshold: null,
      forS: 0,
      summary: `release ${r.id} (${r.kind} ${r.version}) rolled back at step ${r.stepIndex + 1}: ${r.reason ?? ""}`,
      labels: { release: r.id, kind: r.kind, version: r.version, store: r.store, surface: r.surface },
    },
    Math.floor(now / 1000),
    config(env).metrics.alertWebhookUrl,
  ).catch((err: unknown) => console.error("release rollback alert", err));
}

/** POST /admin/releases/:id/abort: the canary to 0 % at once, status aborted. */
export async function abortRelease(
  env: Bindings,
  id: string,
  reason: string,
  now = Date.now(),
): Promise<{ found: boolean; aborted: boolean; release?: ReleaseRow }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await getRelease(env.DB, id);
    if (!r) return { found: false, aborted: false };
    if (r.status !== "canary") return { found: true, aborted: false, release: r };
    if (await applyTransition(env.DB, r, { kind: "abort", reason }, now)) {
      invalidateExperimentConfig();
      return { found: true, aborted: true, release: (await getRelease(env.DB, id)) ?? r };
    }
  }
  return { found: true, aborted: false, release: await getRelease(env.DB, id) };
}

/** The cron job (EVERY_MINUTE): ticks every release in canary. */
export async function tickReleases(env: Bindings, _ctx: ExecutionContext, scheduledTime: number): Promise<void> {
  const now = Math.max(scheduledTime, Date.now());
  for (const r of await releasesInCanary(env.DB))
    await tickRelease(env, r.id, now).catch((err: unknown) => console.error("release tick", r.id, err));
}
