/**
 * The Releases section's curves: canary vs baseline of the release the page names (data-canary, data-baseline,
 * data-from, data-store on #release), minute by minute since the release began (at least the last 15 minutes, at
 * most a day), live traffic only. The baseline arm is the live variants together: their minute figures weighted
 * by requests.
 */
import { getMetrics, type Point, type Series } from "./api";
import { chart, type Line } from "./chart";

type Pick = (p: Point) => number | null;

export async function loadRelease(to: number): Promise<void> {
  const sec = document.getElementById("release");
  const canaryVariant = sec?.dataset.canary;
  if (!sec || !canaryVariant) return;
  const began = Number(sec.dataset.from) - (Number(sec.dataset.from) % 60);
  const from = Math.max(Math.min(began, to - 15 * 60), to - 1440 * 60);
  const r = await getMetrics({ from, to, step: 60, groupBy: "variant", traffic: "live", store: sec.dataset.store });
  const canary = r.series.find((s) => s.group === canaryVariant);
  const baselines = (sec.dataset.baseline ?? "").split(",");
  const bs: Series[] = r.series.filter((s) => baselines.includes(s.group));
  const first = bs[0];

  /** minute i of the baseline arm: the baseline variants' figures weighted by their requests */
  const pooled = (i: number, pick: Pick): number | null => {
    let n = 0;
    let sum = 0;
    for (const s of bs) {
      const q = s.points[i];
      const v = q ? pick(q) : null;
      if (q && v !== null && q.count) {
        n += q.count;
        sum += v * q.count;
      }
    }
    return n ? sum / n : null;
  };

  // every series of one query shares its minute grid: the canary's, else the first baseline variant's
  const xs = (canary ?? first)?.points.map((p) => p.ts) ?? [];
  const none = (): null[] => xs.map(() => null);
  const canaryLine = (label: string, pick: Pick): Line => ({
    label,
    data: canary ? canary.points.map(pick) : none(),
  });
  const baselineLine = (label: string, pick: Pick): Line => ({
    label,
    data: first ? first.points.map((_, i) => pooled(i, pick)) : none(),
  });

  const p99: Pick = (p) => p.latencyMs.total.p99;
  const gpuP99: Pick = (p) => p.latencyMs.gpu.p99;
  const degraded: Pick = (p) => p.degradedRate;
  const errors: Pick = (p) => p.errorRate;
  chart("chart-release-latency", "p99 total latency (ms): canary vs baseline", xs, [
    canaryLine("canary p99", p99),
    baselineLine("baseline p99", p99),
    canaryLine("canary gpu p99", gpuP99),
    baselineLine("baseline gpu p99", gpuP99),
  ]);
  chart("chart-release-errors", "Degraded / 5xx ratio: canary vs baseline", xs, [
    canaryLine("canary degraded", degraded),
    baselineLine("baseline degraded", degraded),
    canaryLine("canary 5xx", errors),
    baselineLine("baseline 5xx", errors),
  ]);
}
