/**
 * Flushes against the real D1 of the test worker: a replayed flush never double counts, and a flush that fails
 * because D1 is broken (a table renamed away for real) is kept and lands exactly once after D1 is repaired.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { Aggregator, type FlushPayload } from "../../edge/metrics/aggregate";
import { applyPayload, FlushBuffer } from "../../edge/metrics/flush";
import type { RequestSample } from "../../edge/metrics/types";

function sample(over: Partial<RequestSample> = {}): RequestSample {
  return {
    route: "search",
    variant: "control",
    lightModel: "light-a",
    heavyModel: "heavy-a",
    colo: "TST",
    store: "esci",
    status: 200,
    cache: "MISS",
    stages: { retrieval: 3, light: 5, gpu: 40, total: 50 },
    scores: { light: [0.1, 0.4], heavy: [1.5] },
    ...over,
  };
}

function payload(colo: string, n: number, atMs: number): FlushPayload {
  const agg = new Aggregator();
  for (let i = 0; i < n; i++) agg.addRequest(sample({ colo, stages: { total: 10 + i } }), atMs);
  agg.addFeedback("click", { variant: "control", model: "heavy-a", store: "esci" }, atMs);
  return agg.drain(atMs)!;
}

async function requestsFor(colo: string): Promise<number> {
  const row = await env.DB.prepare("SELECT COALESCE(SUM(requests), 0) AS n FROM metrics_requests WHERE colo = ?")
    .bind(colo)
    .first<{ n: number }>();
  return row?.n ?? 0;
}
async function latencyCountFor(colo: string): Promise<number> {
  const row = await env.DB.prepare(
    "SELECT COALESCE(SUM(count), 0) AS n FROM metrics_latency WHERE colo = ? AND stage = 'total'",
  )
    .bind(colo)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

let broken = false;
afterEach(async () => {
  if (broken) await env.DB.exec("ALTER TABLE metrics_latency_broken RENAME TO metrics_latency");
  broken = false;
});

describe("metrics flush to D1", () => {
  it("writes counters and histograms, and a replayed payload is rejected whole", async () => {
    const p = payload("REPLAY", 7, Date.UTC(2026, 0, 1, 12, 0, 5));
    expect((await applyPayload(env.DB, p)).outcome).toBe("applied");
    expect(await requestsFor("REPLAY")).toBe(7);
    expect(await latencyCountFor("REPLAY")).toBe(7);
    // the same payload again (e.g. the first ack was lost): nothing changes
    expect((await applyPayload(env.DB, p)).outcome).toBe("duplicate");
    expect(await requestsFor("REPLAY")).toBe(7);
    expect(await latencyCountFor("REPLAY")).toBe(7);
    // a second payload for the same minute and dimensions adds up (upsert)
    expect((await applyPayload(env.DB, payload("REPLAY", 3, Date.UTC(2026, 0, 1, 12, 0, 40)))).outcome).toBe("applied");
    expect(await requestsFor("REPLAY")).toBe(10);
  });

  it("keeps a payload whose batch failed, rolls the batch back, and applies it once after D1 recovers", async () => {
    const buffer = new FlushBuffer(10, applyPayload);
    const p = payload("BROKEN", 5, Date.UTC(2026, 0, 1, 13, 0, 0));
    await env.DB.exec("ALTER TABLE metrics_latency RENAME TO metrics_latency_broken");
    broken = true;
    buffer.push(p);
    const failed = await buffer.flush(env.DB);
    expect(failed.failed).toBe(1);
    expect(failed.pending).toBe(1);
    // the batch is a transaction: the counters written before the failing statement were rolled back
    expect(await requestsFor("BROKEN")).toBe(0);
    const id = await env.DB.prepare("SELECT id FROM metrics_flushes WHERE id = ?").bind(p.id).first();
    expect(id).toBeNull();

    await env.DB.exec("ALTER TABLE metrics_latency_broken RENAME TO metrics_latency");
    broken = false;
    buffer.push(payload("BROKEN", 2, Date.UTC(2026, 0, 1, 13, 0, 30)));
    const ok = await buffer.flush(env.DB);
    expect(ok).toMatchObject({ applied: 2, failed: 0, pending: 0 });
    expect(await requestsFor("BROKEN")).toBe(7);
    expect(await latencyCountFor("BROKEN")).toBe(7);
    // replaying the first (already applied) payload again cannot double count
    buffer.push(p);
    expect(await buffer.flush(env.DB)).toMatchObject({ applied: 0, duplicates: 1, pending: 0 });
    expect(await requestsFor("BROKEN")).toBe(7);
  });

  it("drops the oldest payload when the retry buffer is full", () => {
    const buffer = new FlushBuffer(2, applyPayload);
    for (let i = 0; i < 3; i++) buffer.push(payload("CAP", 1, Date.UTC(2026, 0, 1, 14, i)));
    expect(buffer.pending.length).toBe(2);
    expect(buffer.dropped).toBe(1);
  });
});
