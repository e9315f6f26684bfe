/**
 * One uPlot line chart per container. uPlot is not bundled: the page loads it first from /dashboard/assets/uplot.js
 * (served by the worker from the `uplot` npm package), which defines the global `uPlot`; its types come from the
 * same package. A step with no data is null and drawn as a gap (spanGaps false, as Grafana does), never as a straight
 * line across the hours the system was down. Each container gets data-points=<number of non-null values drawn> and
 * data-span-gaps=<whether any series joins across missing steps> (the browser test reads them).
 */
import type UPlot from "uplot";
import { byId } from "./dom";

/** the global uPlot.iife.min.js defines (a declaration only: esbuild emits nothing for it) */
declare const uPlot: typeof UPlot;

export interface Line {
  label: string;
  data: (number | null)[];
}

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];

export function chart(id: string, title: string, xs: number[], lines: Line[]): void {
  const el = byId(id);
  el.innerHTML = "";
  const width = Math.max(320, el.clientWidth || 560);
  const opts: UPlot.Options = {
    title,
    width,
    height: 220,
    series: [
      {},
      ...lines.map((l, i): UPlot.Series => ({
        label: l.label,
        stroke: COLORS[i % COLORS.length],
        width: 1.5,
        spanGaps: false,
        points: { show: true, size: 4 },
      })),
    ],
    axes: [{}, { size: 60 }],
  };
  const plot = new uPlot(opts, [xs, ...lines.map((l) => l.data)], el);
  el.dataset.spanGaps = String(plot.series.slice(1).some((s) => s.spanGaps === true));
  el.dataset.points = String(lines.reduce((n, l) => n + l.data.filter((v) => v !== null).length, 0));
}
