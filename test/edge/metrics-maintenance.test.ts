/** Compaction of minutes into hours (exactly once), retention, and reads that fall back to hour rows. */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { Aggregator } from "../../edge/metrics/aggregate";
import { applyPayload } from "../../edge/metrics/flush";
import { applyRetention, compactHours } from "../../edge/metrics/maintenance";
import { config } from "../../edge/config";
import { queryRollup } from "../../edge/metrics/queries";

const HOUR0 = Date.UTC(2026, 3, 1, 10, 0, 0) / 1000;

async function seed(): Promise<void> {
  for (const minute of [0, 15, 59]) {
    const agg = new Aggregator();
    const at = (HOUR0 + minute * 60 + 10) * 1000;
    for (let i = 0; i < 10; i++)
      agg.addRequest(
        {
          route: "search",
          variant: "control",
          lightModel: "l",
          heavyModel: "h",
          colo: "CMP",
          store: "esci",
          status: 200,
          cache: "HIT",
          stages: { total: 20 + i },
        },
        at,
      );
    agg.addFeedback("impression", { variant: "control", model: "h", store: "esci" }, at);
    await applyPayload(env.DB, agg.drain(at)!);
  }
}

const sum = async (res: number, table = "metrics_requests", col = "requests"): Promise<number> =>
  (
    await env.DB.prepare(`SELECT COALESCE(SUM(${col}), 0) AS n FROM ${table} WHERE res = ?`)
      .bind(res)
      .first<{ n: number }>()
  )?.n ?? 0;

describe("metrics maintenance", () => {
  it("compacts a complete hour once, keeps totals, and serves old ranges from hour rows after retention", async () => {
    await seed();
    expect(await compactHours(env.DB, HOUR0 + 3600 + 60)).toEqual([]); // still inside the grace period
    const now = HOUR0 + 2 * 3600;
    expect(await compactHours(env.DB, now)).toEqual([HOUR0]);
    expect(await compactHours(env.DB, now)).toEqual([]); // exactly once
    expect(await sum(3600)).toBe(30);
    expect(await sum(60)).toBe(30);
    expect(await sum(3600, "metrics_latency", "count")).toBe(30);
    expect(await sum(3600, "metrics_feedback", "impressions")).toBe(3);

    const cfg = config(env).metrics;
    const later = HOUR0 + cfg.minuteRetentionS + 3 * 3600;
    expect(await applyRetention(env.DB, cfg, later)).toBeGreaterThan(0);
    expect(await sum(60)).toBe(0);
    expect(await sum(3600)).toBe(30);
    const r = await queryRollup(env.DB, { from: HOUR0, to: HOUR0 + 3600, step: 3600 }, cfg.minuteRetentionS, later);
    expect(r.totals.count).toBe(30);
    expect(r.totals.latencyMs.total.p50).toBeGreaterThan(0);

    await applyRetention(env.DB, cfg, HOUR0 + cfg.hourRetentionS + 3600 * 2);
    expect(await sum(3600)).toBe(0);
  });
});
