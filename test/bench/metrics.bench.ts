/**
 * Per-request CPU cost of metrics collection. "without metrics" is a stand-in request epilogue (serialising a
 * 50-result response); "with metrics" adds exactly what recordRequest does per request (fold the sample, with
 * 200 light and 50 heavy scores, into the isolate aggregator) plus the amortised drain every 500 requests.
 * The overhead per request is the difference of the two means (target < 0.2 ms).
 */
import { bench, describe } from "vitest";
import { Aggregator } from "../../edge/metrics/aggregate";
import type { RequestSample } from "../../edge/metrics/types";

const results = Array.from({ length: 50 }, (_, i) => ({
  id: `B0${i}XYZ`,
  title: `Product ${i} with a realistic title`,
  score: Math.sin(i) * 3,
  position: i,
}));
const lightScores = Array.from({ length: 200 }, (_, i) => Math.cos(i) * 2);
const heavyScores = Array.from({ length: 50 }, (_, i) => Math.sin(i) * 6);
const VARIANTS = ["control", "treatment"];

function sample(i: number): RequestSample {
  return {
    route: "search",
    variant: VARIANTS[i % 2]!,
    lightModel: "light-20260101000000-abcdef12",
    heavyModel: "heavy-20260101000000-abcdef12",
    colo: "local",
    store: "esci",
    status: 200,
    cache: i % 3 === 0 ? "HIT" : "MISS",
    degradedReason: i % 20 === 0 ? "gpu_timeout" : undefined,
    stages: { retrieval: 2 + (i % 13) * 0.7, light: 4 + (i % 7), gpu: 30 + (i % 50), total: 40 + (i % 90) },
    scores: { light: lightScores, heavy: heavyScores },
  };
}

function epilogue(i: number): string {
  return JSON.stringify({ requestId: `req-${i}`, results, variant: VARIANTS[i % 2] });
}

describe("per-request epilogue", () => {
  let i = 0;
  const agg = new Aggregator();
  const t0 = Date.UTC(2026, 0, 1);
  bench(
    "without metrics",
    () => {
      i++;
      epilogue(i);
    },
    { time: 1500 },
  );
  bench(
    "with metrics (recordRequest aggregation + amortised drain)",
    () => {
      i++;
      epilogue(i);
      agg.addRequest(sample(i), t0 + i * 10);
      if (agg.pending >= 500) agg.drain(t0 + i * 10, "bench");
    },
    { time: 1500 },
  );
  bench(
    "metrics only: one sample without scores",
    () => {
      i++;
      const s = sample(i);
      delete s.scores;
      agg.addRequest(s, t0 + i * 10);
      if (agg.pending >= 500) agg.drain(t0 + i * 10, "bench");
    },
    { time: 1500 },
  );
});
