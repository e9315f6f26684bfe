/**
 * The GPU-tier resources panel: GET /admin/gpu-resources (edge/metrics/gpu-resources.ts, the cron's scrapes of each
 * endpoint slot's /metrics) → host memory in use and the tier's resident memory, CPU cores used (the rate of
 * process_cpu_seconds_total) and open file descriptors, one line per endpoint slot.
 */
import { getJSON, type GpuResourcesResponse, type GpuResourcesRow } from "./api";
import { chart, type Line } from "./chart";
import { byId, h } from "./dom";

const GIB = 2 ** 30;

/** One line per endpoint over the union of the minutes (null where an endpoint has no row). */
function lines(
  rows: GpuResourcesRow[],
  xs: number[],
  label: string,
  pick: (r: GpuResourcesRow, prev?: GpuResourcesRow) => number | null,
): Line[] {
  const endpoints = [...new Set(rows.map((r) => r.endpoint))];
  return endpoints.map((e) => {
    const mine = rows.filter((r) => r.endpoint === e);
    const at = new Map(mine.map((r, i) => [r.ts, pick(r, mine[i - 1])]));
    return { label: e + " " + label, data: xs.map((x) => at.get(x) ?? null) };
  });
}

/** CPU cores used between two scrapes (null across a restart, where the counter went back). */
function cores(r: GpuResourcesRow, prev?: GpuResourcesRow): number | null {
  if (!prev || r.cpuSeconds === null || prev.cpuSeconds === null || r.cpuSeconds < prev.cpuSeconds) return null;
  return (r.cpuSeconds - prev.cpuSeconds) / (r.ts - prev.ts);
}

export async function loadGpuResources(from: number, to: number): Promise<void> {
  const { rows } = await getJSON<GpuResourcesResponse>("/admin/gpu-resources?from=" + from + "&to=" + to);
  if (rows.length === 0) {
    const why = "no scrapes in range: the cron reads a tier's /metrics where its endpoint slot has a URL";
    byId("chart-gpu-memory").replaceChildren(h("p", { class: "muted" }, why));
    byId("chart-gpu-process").replaceChildren();
    return;
  }
  const xs = [...new Set(rows.map((r) => r.ts))].sort((a, b) => a - b);
  chart("chart-gpu-memory", "GPU tier: host memory in use, tier RSS (GiB)", xs, [
    ...lines(rows, xs, "host in use", (r) => r.memoryUsed),
    ...lines(rows, xs, "RSS GiB", (r) => (r.rssBytes === null ? null : r.rssBytes / GIB)),
  ]);
  chart("chart-gpu-process", "GPU tier: CPU cores used, open fds", xs, [
    ...lines(rows, xs, "cores", cores),
    ...lines(rows, xs, "open fds", (r) => r.openFds),
  ]);
}
