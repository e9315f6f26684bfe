/**
 * `npm run bench:light` — edge scoring of 200 candidates inside workerd: feature computation (edge/search/features)
 * plus the ONNX light model in onnxruntime-web, with the bundled current model. Prints the cold session start and the
 * median / p95 per request over 30 samples of 20 requests each (workerd's clock ticks in whole milliseconds, so each
 * sample times a batch); the only assertion is that scores come back for every candidate. Rows carry the token
 * columns the catalog build precomputes (tokenColumns), as D1 returns them.
 * (Kept out of `npm test`: timings are figures to read, not pass/fail gates.)
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_LIGHT_MODEL } from "../../edge/generated/models";
import { modelFeatures } from "../../edge/search/rank";
import { tokenColumns, type CandidateRow } from "../../edge/search/features";
import { lightModelEntry, scoreLight } from "../../edge/scoring/light";

const WORDS = [
  "leather",
  "belt",
  "brown",
  "men",
  "steel",
  "bottle",
  "water",
  "insulated",
  "black",
  "classic",
  "buckle",
  "wide",
];
const pick = (i: number, n: number) =>
  Array.from({ length: n }, (_, j) => WORDS[(i * 7 + j * 3) % WORDS.length]).join(" ");

function rows(n: number): CandidateRow[] {
  return Array.from({ length: n }, (_, i) => {
    const text = {
      title: `${pick(i, 8)} ${i}`,
      brand: `Brand${i % 17}`,
      color: i % 3 ? "brown" : "black",
      bullets: pick(i + 1, 60),
      description: pick(i + 2, 120),
      category: "Clothing > Belts",
    };
    return {
      rowid: i + 1,
      id: `B0${String(i).padStart(8, "0")}`,
      ...text,
      price: i % 4 ? 10 + i : null,
      rating: 3 + (i % 20) / 10,
      rating_count: i * 13,
      is_book: 0,
      bm25: 20 - i * 0.05,
      bm25_title: 8 - i * 0.02,
      bm25_brand: 0,
      bm25_color: i % 3 ? 1.5 : 0,
      bm25_bullets: 3,
      bm25_description: 1,
      ...tokenColumns(text),
    };
  });
}

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

describe("light scoring of 200 candidates in workerd", () => {
  it("prints cold start and per-request timings", async () => {
    const version = DEFAULT_LIGHT_MODEL;
    const features = lightModelEntry(version).features;
    const candidates = rows(200);
    const query = "brown leather belt for men";

    let t = performance.now();
    const first = await scoreLight(version, modelFeatures(query, candidates, features), candidates.length);
    const cold = performance.now() - t;
    expect(first.length).toBe(200);

    const REPS = 20;
    const total: number[] = [],
      feats: number[] = [],
      model: number[] = [];
    for (let i = 0; i < 30; i++) {
      let f = 0,
        m = 0;
      for (let r = 0; r < REPS; r++) {
        t = performance.now();
        const x = modelFeatures(query, candidates, features);
        const t1 = performance.now();
        await scoreLight(version, x, candidates.length);
        const t2 = performance.now();
        f += t1 - t;
        m += t2 - t1;
      }
      feats.push(f / REPS);
      model.push(m / REPS);
      total.push((f + m) / REPS);
    }
    const fmt = (xs: number[]) => `median ${quantile(xs, 0.5).toFixed(3)} ms, p95 ${quantile(xs, 0.95).toFixed(3)} ms`;
    console.log(
      `light scoring, 200 candidates, model ${version}\n` +
        `  cold session + first request: ${cold.toFixed(1)} ms\n` +
        `  features:        ${fmt(feats)}\n` +
        `  onnxruntime-web: ${fmt(model)}\n` +
        `  total:           ${fmt(total)}  (target: median < 2 ms)`,
    );
  });
});
