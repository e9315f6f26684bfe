/**
 * Read side of the geography rollups (metrics_geo, metrics_geo_gpu): per (colo, GPU region) over [from, to) — the
 * requests whose nearest region it was, their degraded share and failovers, the GPU stage's p50/p99, and the mean
 * learned round trip to that region. Served by `/admin/metrics?groupBy=colo|region` and read by the routing alert
 * (edge/metrics/geo-alert.ts).
 */
import type { Traffic } from "../db/schema-metrics";
import { sourceFilter } from "./queries";
import { Sketch } from "./sketch";

export interface GeoCell {
  colo: string;
  region: string;
  requests: number;
  degraded: number;
  degradedShare: number | null;
  failovers: number;
  gpuMs: { p50: number | null; p99: number | null; count: number };
  /** mean learned round trip (ms) from the colo to the region; null: no successful call measured */
  rttMs: number | null;
  rttSamples: number;
}

export interface GeoQuery {
  from: number;
  to: number;
  traffic?: Traffic;
}

const round = (v: number): number => Math.round(v * 10) / 10;

/** Every (colo, region) pair with traffic or round-trip samples in the window, sorted by colo then region. */
export async function geoCells(db: D1Database, q: GeoQuery, minuteRetentionS: number, now: number): Promise<GeoCell[]> {
  const { where, binds } = await sourceFilter(db, q.from, q.to, minuteRetentionS, now);
  const w = q.traffic ? `${where} AND traffic = '${q.traffic === "drill" ? "drill" : "live"}'` : where;
  const [counts, gpu] = await db.batch<Record<string, number | string>>([
    db
      .prepare(
        `SELECT colo, region, SUM(requests) AS requests, SUM(degraded) AS degraded, SUM(failovers) AS failovers,
           SUM(rtt_samples) AS rttSamples, SUM(rtt_sum_ms) AS rttSumMs
         FROM metrics_geo WHERE ${w} GROUP BY colo, region`,
      )
      .bind(...binds),
    db
      .prepare(
        `SELECT colo, region, bucket, SUM(count) AS n FROM metrics_geo_gpu WHERE ${w} GROUP BY colo, region, bucket`,
      )
      .bind(...binds),
  ]);
  const sketches = new Map<string, Sketch>();
  for (const r of gpu?.results ?? []) {
    const key = `${r.colo}|${r.region}`;
    let sk = sketches.get(key);
    if (!sk) sketches.set(key, (sk = new Sketch()));
    sk.addBucket(Number(r.bucket), Number(r.n));
  }
  return (counts?.results ?? [])
    .map((r): GeoCell => {
      const sk = sketches.get(`${r.colo}|${r.region}`);
      const requests = Number(r.requests);
      const samples = Number(r.rttSamples);
      return {
        colo: String(r.colo),
        region: String(r.region),
        requests,
        degraded: Number(r.degraded),
        degradedShare: requests > 0 ? Number(r.degraded) / requests : null,
        failovers: Number(r.failovers),
        gpuMs: {
          p50: sk && sk.count > 0 ? round(sk.quantile(0.5)) : null,
          p99: sk && sk.count > 0 ? round(sk.quantile(0.99)) : null,
          count: sk?.count ?? 0,
        },
        rttMs: samples > 0 ? round(Number(r.rttSumMs) / samples) : null,
        rttSamples: samples,
      };
    })
    .sort((a, b) => a.colo.localeCompare(b.colo) || a.region.localeCompare(b.region));
}
