/**
 * The GPU tier's resources on the edge. Every minute the cron reads each endpoint slot's Prometheus `/metrics` —
 * where the slot has a URL (`GPU_ENDPOINT_URL` / `GPU_SECONDARY_ENDPOINT_URL`: `npm start`, a self-hosted tier; a
 * SageMaker endpoint serves only /invocations and /ping, its memory alarm is CloudWatch's, infra/README.md) — and
 * keeps process CPU seconds, resident memory, open fds and host memory available/total per minute in D1
 * (`gpu_resources`, kept as long as minute rollups). The `gpu_memory:<endpoint>` alert (ticket) fires when host
 * memory in use (1 − available/total) stays above `GPU_MEMORY_ALERT_RATIO` (0.9) for 2 minutes; drills never touch
 * these figures. `GET /admin/gpu-resources` serves them to the dashboard.
 */
import { and, desc, gte, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { config, type MetricsConfig } from "../config";
import { gpuEndpoints } from "../gpu/endpoints";
import { gpuResources } from "../db/schema-resources";
import type { Bindings } from "../env";
import { MINUTE } from "./aggregate";
import type { Condition } from "./condition";

export type GpuResourceRow = typeof gpuResources.$inferSelect;

/** The unlabelled samples read, by column. */
const SAMPLES = {
  cpuSeconds: "process_cpu_seconds_total",
  rssBytes: "process_resident_memory_bytes",
  openFds: "process_open_fds",
  hostAvailableBytes: "vitrine_gpu_host_memory_available_bytes",
  hostTotalBytes: "vitrine_gpu_host_memory_total_bytes",
} as const;
type Figures = Record<keyof typeof SAMPLES, number | null>;

/** The figures of a Prometheus text exposition (absent samples are null). */
export function parseResources(text: string): Figures {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(\S+)/.exec(line);
    if (m) values.set(m[1]!, Number(m[2]));
  }
  const out = {} as Figures;
  for (const [col, name] of Object.entries(SAMPLES) as Array<[keyof Figures, string]>) {
    const v = values.get(name);
    out[col] = v !== undefined && Number.isFinite(v) ? v : null;
  }
  return out;
}

/** The cron job: scrape every endpoint slot with a URL, store the minute's row, drop rows past retention. */
export async function scrapeGpuResources(env: Bindings, _ctx: ExecutionContext, scheduledTime: number): Promise<void> {
  const cfg = config(env);
  const now = Math.floor(scheduledTime / 1000);
  const ts = now - (now % MINUTE);
  const db = drizzle(env.DB);
  // a slot per region with a URL: "primary" for the first configured region, the region's name for the others
  const slots = gpuEndpoints(env)
    .filter((e) => e.url)
    .map((e) => [e.role === "primary" ? "primary" : e.region, e] as const);
  const rows = await Promise.all(
    slots.map(async ([endpoint, e]) => {
      try {
        const res = await fetch(`${e.url.replace(/\/$/, "")}/metrics`, { signal: AbortSignal.timeout(2_000) });
        if (!res.ok) return null;
        return { endpoint, ts, ...parseResources(await res.text()) };
      } catch {
        return null; // the tier is down: the breakers and the degraded rate say so; no row this minute
      }
    }),
  );
  const stmts = rows
    .filter((r): r is GpuResourceRow => r !== null)
    .map((r) =>
      db
        .insert(gpuResources)
        .values(r)
        .onConflictDoUpdate({ target: [gpuResources.endpoint, gpuResources.ts], set: r }),
    );
  const sweep = db.delete(gpuResources).where(lt(gpuResources.ts, now - cfg.metrics.minuteRetentionS));
  await db.batch([sweep, ...stmts]);
}

export async function readGpuResources(d1: D1Database, from: number, to: number): Promise<GpuResourceRow[]> {
  return drizzle(d1)
    .select()
    .from(gpuResources)
    .where(and(gte(gpuResources.ts, from), lt(gpuResources.ts, to)))
    .orderBy(gpuResources.endpoint, gpuResources.ts);
}

/** Host memory in use, 0..1 (null without both figures). */
export const memoryUsed = (r: Pick<GpuResourceRow, "hostAvailableBytes" | "hostTotalBytes">): number | null =>
  r.hostAvailableBytes !== null && r.hostTotalBytes ? 1 - r.hostAvailableBytes / r.hostTotalBytes : null;

/** `gpu_memory:<endpoint>` from each endpoint's newest row of the last 5 minutes (pending 2 minutes, then firing). */
export async function gpuMemoryConditions(d1: D1Database, cfg: MetricsConfig, now: number): Promise<Condition[]> {
  const rows = await drizzle(d1)
    .select()
    .from(gpuResources)
    .where(gte(gpuResources.ts, now - 5 * MINUTE))
    .orderBy(desc(gpuResources.ts));
  const newest = new Map<string, GpuResourceRow>();
  for (const r of rows) if (!newest.has(r.endpoint)) newest.set(r.endpoint, r);
  return [...newest.values()].map((r) => {
    const used = memoryUsed(r);
    const gib = (b: number | null) => (b === null ? "n/a" : `${(b / 2 ** 30).toFixed(1)} GiB`);
    return {
      id: `gpu_memory:${r.endpoint}`,
      rule: "gpu_tier_memory",
      kind: "anomaly" as const,
      severity: "ticket" as const,
      active: used !== null && used > cfg.gpuMemoryAlertRatio,
      value: used,
      threshold: cfg.gpuMemoryAlertRatio,
      forS: 2 * MINUTE,
      summary: `gpu-tier ${r.endpoint}: host memory ${used === null ? "n/a" : `${(used * 100).toFixed(1)}%`} in use (${gib(r.hostAvailableBytes)} available of ${gib(r.hostTotalBytes)}; tier RSS ${gib(r.rssBytes)}), threshold ${(cfg.gpuMemoryAlertRatio * 100).toFixed(0)}%`,
      labels: { endpoint: r.endpoint },
    };
  });
}
