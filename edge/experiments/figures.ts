/**
 * Per-variant figures of an experiment for GET /admin/experiments: live requests, impressions, clicks, purchases of
 * the experiment's store since it was created (until it ended), read from the metrics rollups the dashboard charts
 * (edge/metrics/queries.ts), and its CTR and conversion as RateFigures with 95 % Wilson intervals — the same code as
 * the dashboard's variant table (edge/metrics/rates.ts), n/a where the impressions cannot support the rate. The
 * rollups key feedback by variant name within a store: two experiments of one store that reuse a variant name over
 * the same time share its figures.
 */
import { config } from "../config";
import type { Bindings } from "../env";
import { queryRollup } from "../metrics/queries";
import { rateFigure, type RateFigure } from "../metrics/rates";
import type { ChangeRow, ExperimentState } from "./admin";

export interface VariantFigures {
  requests: number;
  impressions: number;
  clicks: number;
  purchases: number;
  ctr: RateFigure;
  conversion: RateFigure;
}

/** The experiment's window, unix seconds on minute bounds: its create (else its oldest change) to its end or now. */
export function experimentWindow(changes: readonly ChangeRow[], nowMs: number): { from: number; to: number } {
  const first = changes[0]?.at ?? nowMs - 3600_000;
  const end = changes.find((c) => c.action === "end")?.at ?? nowMs;
  const from = Math.floor(first / 60_000) * 60;
  const to = Math.max(from + 60, Math.ceil(end / 60_000) * 60);
  return { from, to };
}

export async function variantFigures(
  env: Bindings,
  exp: ExperimentState,
  window: { from: number; to: number },
  nowMs: number,
): Promise<Record<string, VariantFigures>> {
  const r = await queryRollup(
    env.DB,
    { ...window, step: window.to - window.from, groupBy: "variant", traffic: "live", store: exp.store },
    config(env).metrics.minuteRetentionS,
    Math.floor(nowMs / 1000),
  );
  const out: Record<string, VariantFigures> = {};
  for (const v of exp.variants) {
    const t = r.series.find((s) => s.group === v.name)?.totals;
    const fb = t?.feedback ?? { impressions: 0, clicks: 0, purchases: 0 };
    out[v.name] = {
      requests: t?.count ?? 0,
      impressions: fb.impressions,
      clicks: fb.clicks,
      purchases: fb.purchases,
      ctr: rateFigure(fb.clicks, fb.impressions),
      conversion: rateFigure(fb.purchases, fb.impressions),
    };
  }
  return out;
}
