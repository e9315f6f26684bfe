/**
 * `npm run bench:recommend` — the edge's CPU work for one recommendation inside workerd, on a request's tables over
 * items of the real store's size (≈4,000 items, the MF list as the ANN index answers it, 50 co-purchase + 30
 * content neighbours per item; a user with 120 purchased items): every candidate source, the merge to 300 candidates, the 29 features and the
 * bundled recs-light ONNX over the 300 (onnxruntime-web). D1 reads are I/O, not CPU, and are not in the figure.
 * Prints the median / p95 per request over 30 samples of 20 requests (workerd's clock ticks in whole ms).
 * (Kept out of `npm test`: timings are figures to read, not pass/fail gates.)
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_RECS_LIGHT_MODEL, type RecsSourceSettings } from "../../edge/generated/models";
import { recsFeatures } from "../../edge/recs/features";
import { userHistory, type HistoryRow } from "../../edge/recs/history";
import { candidates } from "../../edge/recs/sources/merge";
import { holdNeighbours, type ItemTables } from "../../edge/recs/tables";
import { scoreLight } from "../../edge/scoring/light";

const N_ITEMS = 4000;
const SETTINGS: RecsSourceSettings = {
  now: 15300,
  recencyTauDays: 60,
  perSource: 150,
  maxHistory: 200,
  maxCandidates: 300,
};

/** A seeded generator (mulberry32) so every run benches the same tables. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function tables(): ItemTables {
  const r = rng(7);
  const ids = Array.from({ length: N_ITEMS }, (_, i) => String(20000 + i));
  const f32 = (g: () => number) => Float32Array.from({ length: N_ITEMS }, g);
  const popAll = f32(() => Math.floor(r() * 500));
  const trend = f32(() => r() * 20);
  const t: ItemTables = {
    store: "bench",
    version: "recs-light-bench",
    ids,
    index: new Map(ids.map((id, i) => [id, i])),
    popAll,
    popRecent: f32(() => Math.floor(r() * 60)),
    trend,
    repeatRate: f32(() => r()),
    price: f32(() => 0.5 + r() * 10),
    sold: Uint8Array.from(popAll, (p) => (p > 0 ? 1 : 0)),
    held: new Uint8Array(N_ITEMS).fill(1),
    trending: Int32Array.from(ids.keys())
      .sort((a, b) => trend[b]! - trend[a]! || a - b)
      .slice(0, SETTINGS.perSource),
    // the MF source's list as the ANN index answers it (edge/recs/ann/): perSource items, best first
    mf: {
      items: Int32Array.from({ length: SETTINGS.perSource }, () => Math.floor(r() * N_ITEMS)),
      scores: Float32Array.from({ length: SETTINGS.perSource }, (_, k) => 1 - k / 1000),
    },
    neighbours: new Map(),
  };
  for (let i = 0; i < N_ITEMS; i++) {
    for (const [kind, n] of [
      ["copurchase", 50],
      ["content", 30],
    ] as const) {
      const nb = Int32Array.from({ length: n }, () => Math.floor(r() * N_ITEMS));
      const sims = Float32Array.from({ length: n }, (_, k) => 0.9 / (k + 1));
      holdNeighbours(t, kind, i, { ids: nb, sims });
    }
  }
  return t;
}

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

describe("recommendation candidates + light ranking of 300 candidates in workerd", () => {
  it("prints per-request timings", async () => {
    const t = tables();
    const r = rng(11);
    const rows: HistoryRow[] = Array.from({ length: 120 }, (_, j) => ({
      itemId: t.ids[(j * 31) % N_ITEMS]!,
      n: 1 + Math.floor(r() * 8),
      lastDay: SETTINGS.now - r() * 300,
      qty: 12,
    }));
    const version = DEFAULT_RECS_LIGHT_MODEL;
    const once = async (): Promise<{ cand: number; model: number; n: number }> => {
      const t0 = performance.now();
      const h = userHistory(rows, t.index, SETTINGS.now, SETTINGS.recencyTauDays);
      const c = candidates(t, SETTINGS, { history: h, context: [] });
      const x = recsFeatures(t, SETTINGS.now, h, c, []);
      const t1 = performance.now();
      const scores = await scoreLight(version, x, c.items.length);
      expect(scores.length).toBe(c.items.length);
      return { cand: t1 - t0, model: performance.now() - t1, n: c.items.length };
    };
    let t0 = performance.now();
    const first = await once();
    const cold = performance.now() - t0;
    expect(first.n).toBe(300);

    const REPS = 20;
    const total: number[] = [],
      cand: number[] = [],
      model: number[] = [];
    for (let i = 0; i < 30; i++) {
      let a = 0,
        b = 0;
      t0 = performance.now();
      for (let k = 0; k < REPS; k++) {
        const o = await once();
        a += o.cand;
        b += o.model;
      }
      cand.push(a / REPS);
      model.push(b / REPS);
      total.push((performance.now() - t0) / REPS);
    }
    const fmt = (xs: number[]) => `median ${quantile(xs, 0.5).toFixed(3)} ms, p95 ${quantile(xs, 0.95).toFixed(3)} ms`;
    console.log(
      `recommend: ${N_ITEMS} items, 300 candidates, model ${version}\n` +
        `  cold session + first request: ${cold.toFixed(1)} ms\n` +
        `  sources + merge + features: ${fmt(cand)}\n` +
        `  onnxruntime-web:            ${fmt(model)}\n` +
        `  total:                      ${fmt(total)}  (target: median < 3 ms)`,
    );
  });
});
