/**
 * The dashboard's browser script (bundled by scripts/build-dashboard.mjs into edge/generated/dashboard.js, served
 * at /dashboard/assets/dashboard.js after uPlot). Fetches /admin/metrics (of the store the page names in
 * data-store, or every store; range and step from data-range / data-step) and /admin/alerts with the session
 * cookie, draws the uPlot charts, fills the summary, the variant table (CTR and conversion with Wilson intervals, n/a with their counts where the impressions cannot support them: edge/metrics/rates.ts)
 * and the active alerts, then the release curves (release.ts); the experiments section (experiments.ts) loads beside. <body data-loaded> becomes "true", or "error" with
 * the reason in #summary.
 */
import { getAlerts, getMetrics, type Point, type Stage } from "./api";
import { chart } from "./chart";
import { byId, h } from "./dom";
import { loadExperiments } from "./experiments";
import { fillGeo } from "./geo";
import { loadRelease } from "./release";
import { fmt, rateFigure, rateText } from "../../metrics/rates";
import { loadGpuResources } from "./resources";

const body = document.body.dataset;
const range = Number(body.range || 3600);
const step = Number(body.step || 60);
const store = body.store;

async function load(): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const to = now - (now % 60) + 60;
  const from = to - range;
  const [all, byVariant, alerts, byRegion] = await Promise.all([
    getMetrics({ from, to, step, store }),
    getMetrics({ from, to, step, groupBy: "variant", store }),
    getAlerts(50),
    getMetrics({ from, to, step: Math.min(86_400, to - from), groupBy: "region", traffic: "live" }),
  ]);
  fillGeo(byRegion.geo);

  const pts: Point[] = all.series[0]?.points ?? [];
  const xs = pts.map((p) => p.ts);
  const lat = (stage: Stage, q: "p50" | "p95" | "p99"): (number | null)[] => pts.map((p) => p.latencyMs[stage][q]);
  chart("chart-latency", "Latency (ms) by stage", xs, [
    { label: "total p50", data: lat("total", "p50") },
    { label: "total p95", data: lat("total", "p95") },
    { label: "total p99", data: lat("total", "p99") },
    { label: "retrieval p99", data: lat("retrieval", "p99") },
    { label: "light p99", data: lat("light", "p99") },
    { label: "gpu p99", data: lat("gpu", "p99") },
  ]);
  chart("chart-rate", "Requests / s", xs, [{ label: "rps", data: pts.map((p) => p.rps) }]);
  chart("chart-errors", "Degraded / error ratio", xs, [
    { label: "degraded", data: pts.map((p) => p.degradedRate) },
    { label: "5xx", data: pts.map((p) => p.errorRate) },
  ]);
  chart("chart-cache", "Cache hit ratio", xs, [{ label: "hit ratio", data: pts.map((p) => p.cacheHitRatio) }]);
  chart(
    "chart-ctr",
    "CTR by variant",
    xs,
    // a minute's CTR with fewer clicks than impressions only (a click can outlive its impression's minute)
    byVariant.series.map((s) => ({
      label: s.group,
      data: s.points.map((p) => rateFigure(p.feedback.clicks, p.feedback.impressions, 1).rate),
    })),
  );

  const t = all.totals;
  byId("summary").textContent =
    t.count +
    " requests · p50 " +
    fmt(t.latencyMs.total.p50, 1) +
    " ms · p95 " +
    fmt(t.latencyMs.total.p95, 1) +
    " ms · p99 " +
    fmt(t.latencyMs.total.p99, 1) +
    " ms · degraded " +
    fmt(t.degradedRate) +
    " · cache hit " +
    fmt(t.cacheHitRatio);

  const rows = byVariant.series.map((s) => {
    const f = s.totals.feedback;
    return h(
      "tr",
      {},
      h("td", {}, s.group),
      h("td", {}, String(s.totals.count)),
      h("td", {}, String(f.impressions)),
      h("td", { class: "ctr" }, rateText(rateFigure(f.clicks, f.impressions))),
      h("td", { class: "conversion" }, rateText(rateFigure(f.purchases, f.impressions))),
    );
  });
  byId("variants").replaceChildren(
    ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: "5" }, "no traffic in range"))]),
  );

  const active = alerts.alerts.filter((a) => a.state !== "resolved");
  const items = active.map((a) =>
    h("li", { class: a.state }, h("b", {}, a.state), " " + a.severity + " " + a.id + ": " + a.summary),
  );
  byId("alerts").replaceChildren(...(items.length ? items : [h("li", {}, "no active alerts")]));

  await loadRelease(to);
  await loadGpuResources(from, to);
  document.body.dataset.loaded = "true";
}

// the experiments section loads on its own: a failed metrics read does not hide it
void loadExperiments();

load().catch((e: unknown) => {
  byId("summary").textContent = "failed to load metrics: " + (e instanceof Error ? e.message : String(e));
  document.body.dataset.loaded = "error";
});
