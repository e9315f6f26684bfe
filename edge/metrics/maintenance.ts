/**
 * Scheduled maintenance of the rollups: compact complete minute-hours into hour rows (once per hour, marked in
 * metrics_compactions in the same batch) and delete rows past retention (rollups, flush ids, POST /v1/events ids).
 */
import { HOUR } from "./aggregate";
import type { MetricsConfig } from "../config";
import { ROLLUP_LIST } from "./rollups";

/** Hours end this long before they are compacted, so late flushes (≤ 10 s + retries) still land in minutes. */
export const COMPACTION_GRACE_S = 5 * 60;

function compactStatements(db: D1Database, hour: number, now: number): D1PreparedStatement[] {
  const stmts = [db.prepare("INSERT INTO metrics_compactions (hour, compacted_at) VALUES (?, ?)").bind(hour, now)];
  for (const t of ROLLUP_LIST) {
    const keys = t.dims.map((c) => c.name).join(", ");
    const counters = t.counters.map(({ column }) => column.name);
    const sums = counters.map((s) => `SUM(${s})`).join(", ");
    const set = counters.map((s) => `${s} = ${s} + excluded.${s}`).join(", ");
    stmts.push(
      db
        .prepare(
          `INSERT INTO ${t.name} (res, ts, ${keys}, ${counters.join(", ")})
         SELECT 3600, ?, ${keys}, ${sums} FROM ${t.name} WHERE res = 60 AND ts >= ? AND ts < ?
         GROUP BY ${keys} ORDER BY 1
         ON CONFLICT DO UPDATE SET ${set}`,
        )
        .bind(hour, hour, hour + HOUR),
    );
  }
  return stmts;
}

/** Compacts every complete, not yet compacted hour that still has minute rows. Returns the hours compacted. */
export async function compactHours(db: D1Database, now: number, maxHours = 6): Promise<number[]> {
  const limit = now - COMPACTION_GRACE_S - HOUR;
  const { results } = await db
    .prepare(
      `SELECT DISTINCT ts - (ts % 3600) AS hour FROM metrics_requests
       WHERE res = 60 AND ts - (ts % 3600) <= ? AND ts - (ts % 3600) NOT IN (SELECT hour FROM metrics_compactions)
       UNION
       SELECT DISTINCT ts - (ts % 3600) FROM metrics_feedback
       WHERE res = 60 AND ts - (ts % 3600) <= ? AND ts - (ts % 3600) NOT IN (SELECT hour FROM metrics_compactions)
       ORDER BY hour LIMIT ?`,
    )
    .bind(limit, limit, maxHours)
    .all<{ hour: number }>();
  const done: number[] = [];
  for (const { hour } of results) {
    await db.batch(compactStatements(db, hour, now)); // one transaction: marker + all tables
    done.push(hour);
  }
  return done;
}

/** Deletes minute rows older than the minute retention and hour rows older than the hour retention. */
export async function applyRetention(db: D1Database, cfg: MetricsConfig, now: number): Promise<number> {
  const minuteCut = now - cfg.minuteRetentionS;
  const hourCut = now - cfg.hourRetentionS;
  const stmts: D1PreparedStatement[] = [];
  for (const t of ROLLUP_LIST) {
    stmts.push(db.prepare(`DELETE FROM ${t.name} WHERE res = 60 AND ts < ?`).bind(minuteCut));
    stmts.push(db.prepare(`DELETE FROM ${t.name} WHERE res = 3600 AND ts < ?`).bind(hourCut));
  }
  stmts.push(db.prepare("DELETE FROM metrics_flushes WHERE applied_at < ?").bind(minuteCut));
  stmts.push(db.prepare("DELETE FROM metrics_compactions WHERE hour < ?").bind(hourCut));
  stmts.push(db.prepare("DELETE FROM event_ids WHERE seen_at < ?").bind(now - cfg.eventIdRetentionS));
  stmts.push(db.prepare("DELETE FROM alerts WHERE state = 'resolved' AND updated_at < ?").bind(hourCut));
  const res = await db.batch(stmts);
  return res.reduce((n, r) => n + (r.meta.changes ?? 0), 0);
}
