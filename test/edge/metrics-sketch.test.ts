/** Histogram accuracy and mergeability, PSI sanity, on seeded random data. */
import { describe, expect, it } from "vitest";
import { ALPHA, Sketch } from "../../edge/metrics/sketch";
import { psi } from "../../edge/metrics/drift";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const gaussian = (r: () => number): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());

const DISTRIBUTIONS: Record<string, (r: () => number) => number> = {
  lognormal: (r) => Math.exp(3 + 1.2 * gaussian(r)),
  uniform: (r) => 0.5 + 2000 * r(),
  exponential: (r) => -50 * Math.log(1 - r()),
  bimodal: (r) => (r() < 0.9 ? 20 + 5 * r() : 800 + 400 * r()),
};

const QUANTILES = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999];

describe("log-bucketed latency sketch", () => {
  for (const [name, draw] of Object.entries(DISTRIBUTIONS)) {
    it(`merged percentiles are within α=${ALPHA} of exact ones (${name})`, () => {
      const r = rng(name.length * 7919);
      const parts = [new Sketch(), new Sketch(), new Sketch()];
      const all: number[] = [];
      for (let i = 0; i < 20_000; i++) {
        const v = draw(r);
        all.push(v);
        parts[i % 3]!.add(v);
      }
      const merged = new Sketch().merge(parts[0]!).merge(parts[1]!).merge(parts[2]!);
      all.sort((a, b) => a - b);
      expect(merged.count).toBe(all.length);
      for (const q of QUANTILES) {
        const exact = all[Math.floor(q * (all.length - 1))]!;
        const est = merged.quantile(q);
        expect(Math.abs(est - exact) / exact).toBeLessThanOrEqual(ALPHA + 1e-12);
      }
    });
  }

  it("merge is associative and commutative", () => {
    const r = rng(42);
    const [a, b, c] = [new Sketch(), new Sketch(), new Sketch()];
    for (let i = 0; i < 3000; i++) [a, b, c][i % 3]!.add(DISTRIBUTIONS.lognormal!(r));
    const left = a.clone().merge(b).merge(c);
    const right = a.clone().merge(b.clone().merge(c));
    const swapped = c.clone().merge(a).merge(b);
    const sorted = (s: Sketch) => s.sortedBuckets();
    expect(sorted(left)).toEqual(sorted(right));
    expect(sorted(left)).toEqual(sorted(swapped));
    expect(left.count).toBe(3000);
    for (const q of QUANTILES) expect(left.quantile(q)).toBe(right.quantile(q));
  });

  it("keeps the sign of scores and orders negative buckets correctly", () => {
    const s = new Sketch();
    for (const v of [-8, -4, -1, 0, 0.5, 2, 6]) s.add(v);
    expect(s.quantile(0)).toBeCloseTo(-8, 0);
    expect(s.quantile(0.5)).toBe(0);
    expect(s.quantile(1)).toBeCloseTo(6, 0);
  });
});

describe("population stability index", () => {
  it("is near zero for the same distribution and large for a shifted one", () => {
    const r = rng(7);
    const ref = new Sketch();
    const same = new Sketch();
    const shifted = new Sketch();
    for (let i = 0; i < 20_000; i++) {
      ref.add(gaussian(r) * 2);
      same.add(gaussian(r) * 2);
      shifted.add(gaussian(r) * 2 + 1.5);
    }
    expect(psi(ref, same)).toBeLessThan(0.02);
    expect(psi(ref, shifted)).toBeGreaterThan(0.2);
  });
});
