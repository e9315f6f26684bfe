/**
 * The dashboard's browser script (plain ES2020, shipped as a string): fetches /admin/metrics (of the store the page
 * names in data-store, or every store) and /admin/alerts with the session cookie and draws uPlot charts (and the
 * canary vs baseline curves of the release the page names, from that release's store). Each chart container gets data-points=<n> once drawn (the browser
 * test reads it).
 */
export const DASHBOARD_SCRIPT = String.raw`
(function () {
  const $ = (id) => document.getElementById(id);
  const range = Number(document.body.dataset.range || 3600);
  const step = Number(document.body.dataset.step || 60);
  const storeParam = (id) => (id ? "&store=" + encodeURIComponent(id) : "");
  const store = storeParam(document.body.dataset.store);
  const fmt = (v, d = 3) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(d));
  function wilson(k, n) {
    if (!n) return [null, null];
    const z = 1.96, p = k / n, den = 1 + (z * z) / n;
    const c = (p + (z * z) / (2 * n)) / den;
    const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / den;
    return [Math.max(0, c - h), Math.min(1, c + h)];
  }
  const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];
  function chart(id, title, xs, lines) {
    const el = $(id);
    el.innerHTML = "";
    const width = Math.max(320, el.clientWidth || 560);
    const opts = {
      title, width, height: 220,
      series: [{}].concat(lines.map((l, i) => ({ label: l.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, points: { show: true, size: 4 } }))),
      axes: [{}, { size: 60 }],
    };
    new uPlot(opts, [xs].concat(lines.map((l) => l.data)), el);
    el.dataset.points = String(lines.reduce((n, l) => n + l.data.filter((v) => v !== null).length, 0));
  }
  async function getJSON(url) {
    const res = await fetch(url, { credentials: "same-origin" });
    if (!res.ok) throw new Error(url + " → " + res.status);
    return res.json();
  }
  async function load() {
    const now = Math.floor(Date.now() / 1000);
    const to = now - (now % 60) + 60;
    const from = to - range;
    const [all, byVariant, alerts] = await Promise.all([
      getJSON("/admin/metrics?from=" + from + "&to=" + to + "&step=" + step + store),
      getJSON("/admin/metrics?from=" + from + "&to=" + to + "&step=" + step + "&groupBy=variant" + store),
      getJSON("/admin/alerts?limit=50"),
    ]);
    const pts = (all.series[0] && all.series[0].points) || [];
    const xs = pts.map((p) => p.ts);
    const lat = (stage, q) => pts.map((p) => p.latencyMs[stage][q]);
    chart("chart-latency", "Latency (ms) by stage", xs, [
      { label: "total p50", data: lat("total", "p50") }, { label: "total p95", data: lat("total", "p95") },
      { label: "total p99", data: lat("total", "p99") }, { label: "retrieval p99", data: lat("retrieval", "p99") },
      { label: "light p99", data: lat("light", "p99") }, { label: "gpu p99", data: lat("gpu", "p99") },
    ]);
    chart("chart-rate", "Requests / s", xs, [{ label: "rps", data: pts.map((p) => p.rps) }]);
    chart("chart-errors", "Degraded / error ratio", xs, [
      { label: "degraded", data: pts.map((p) => p.degradedRate) }, { label: "5xx", data: pts.map((p) => p.errorRate) },
    ]);
    chart("chart-cache", "Cache hit ratio", xs, [{ label: "hit ratio", data: pts.map((p) => p.cacheHitRatio) }]);
    chart("chart-ctr", "CTR by variant", xs, byVariant.series.map((s) => ({ label: s.group, data: s.points.map((p) => p.ctr) })));
    const t = all.totals;
    $("summary").textContent = t.count + " requests · p50 " + fmt(t.latencyMs.total.p50, 1) + " ms · p95 " +
      fmt(t.latencyMs.total.p95, 1) + " ms · p99 " + fmt(t.latencyMs.total.p99, 1) + " ms · degraded " +
      fmt(t.degradedRate) + " · cache hit " + fmt(t.cacheHitRatio);
    const rows = byVariant.series.map((s) => {
      const f = s.totals.feedback;
      const ctr = wilson(f.clicks, f.impressions), conv = wilson(f.purchases, f.impressions);
      return "<tr><td>" + s.group + "</td><td>" + s.totals.count + "</td><td>" + f.impressions + "</td><td>" +
        fmt(s.totals.ctr) + " [" + fmt(ctr[0]) + ", " + fmt(ctr[1]) + "]</td><td>" + fmt(s.totals.conversion) +
        " [" + fmt(conv[0]) + ", " + fmt(conv[1]) + "]</td></tr>";
    });
    $("variants").innerHTML = rows.join("") || "<tr><td colspan=5>no traffic in range</td></tr>";
    const active = alerts.alerts.filter((a) => a.state !== "resolved");
    $("alerts").innerHTML = active.map((a) => "<li class='" + a.state + "'><b>" + a.state + "</b> " + a.severity + " " +
      a.id + ": " + a.summary + "</li>").join("") || "<li>no active alerts</li>";
    await loadRelease(to);
    document.body.dataset.loaded = "true";
  }
  // canary vs baseline of the release in progress (or the latest), minute by minute since it began
  async function loadRelease(to) {
    const sec = $("release");
    if (!sec || !sec.dataset.canary) return;
    // since the release began (at least the last 15 minutes, at most a day)
    const began = Number(sec.dataset.from) - (Number(sec.dataset.from) % 60);
    const from = Math.max(Math.min(began, to - 15 * 60), to - 1440 * 60);
    const r = await getJSON("/admin/metrics?from=" + from + "&to=" + to + "&step=60&groupBy=variant&traffic=live" +
      storeParam(sec.dataset.store));
    const canary = r.series.find((s) => s.group === sec.dataset.canary);
    const baselines = sec.dataset.baseline.split(",");
    // the baseline arm is the live variants together: their minute figures weighted by requests
    const bs = r.series.filter((s) => baselines.includes(s.group));
    const pooled = (p, i, pick) => {
      let n = 0, sum = 0;
      for (const s of bs) { const q = s.points[i], v = pick(q); if (v !== null && q.count) { n += q.count; sum += v * q.count; } }
      return n ? sum / n : null;
    };
    const baseline = bs.length ? { points: bs[0].points.map((p, i) => ({ i })) } : null;
    const base = canary || baseline;
    const xs = base ? base.points.map((p) => p.ts) : [];
    const line = (label, s, pick) => ({
      label, data: !s ? xs.map(() => null) : s === baseline ? s.points.map((p) => pooled(p, p.i, pick)) : s.points.map(pick),
    });
    chart("chart-release-latency", "p99 total latency (ms): canary vs baseline", xs, [
      line("canary p99", canary, (p) => p.latencyMs.total.p99), line("baseline p99", baseline, (p) => p.latencyMs.total.p99),
      line("canary gpu p99", canary, (p) => p.latencyMs.gpu.p99), line("baseline gpu p99", baseline, (p) => p.latencyMs.gpu.p99),
    ]);
    chart("chart-release-errors", "Degraded / 5xx ratio: canary vs baseline", xs, [
      line("canary degraded", canary, (p) => p.degradedRate), line("baseline degraded", baseline, (p) => p.degradedRate),
      line("canary 5xx", canary, (p) => p.errorRate), line("baseline 5xx", baseline, (p) => p.errorRate),
    ]);
  }
  load().catch((e) => { $("summary").textContent = "failed to load metrics: " + e.message; document.body.dataset.loaded = "error"; });
})();
`;
