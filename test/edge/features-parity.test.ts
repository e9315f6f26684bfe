/**
 * C2 parity: the TypeScript features (edge/search/features.ts) against the Python ones (vitrine_gpu/features.py),
 * on the fixture Python wrote from rows retrieved with the shared SQL (`python -m vitrine_gpu.features_fixture`).
 */
import { describe, expect, it } from "vitest";
import { computeFeatures, FEATURE_NAMES, matchExpression, tokenize, type CandidateRow } from "../../edge/search/features";
import fixture from "../fixtures/features-parity.json";

interface Fixture {
  feature_names: string[];
  tokenizer: { text: string; tokens: string[] }[];
  match: { query: string; expr: string | null }[];
  cases: { query: string; source: string; rows: CandidateRow[]; features: number[] }[];
}
const fx = fixture as unknown as Fixture;

describe("features parity with Python", () => {
  it("has the same feature names in the same order", () => {
    expect([...FEATURE_NAMES]).toEqual(fx.feature_names);
  });

  it("tokenizes like Python", () => {
    for (const c of fx.tokenizer) expect(tokenize(c.text), JSON.stringify(c.text)).toEqual(c.tokens);
  });

  it("builds the same FTS5 match expressions (null when no token, at most 32 tokens)", () => {
    for (const c of fx.match) expect(matchExpression(c.query), JSON.stringify(c.query)).toBe(c.expr);
    const long = fx.match.find((c) => c.query.startsWith("w0 w1"));
    expect(long?.expr?.split(" OR ")).toHaveLength(32);
    expect(matchExpression("  --- ")).toBeNull();
  });

  it("computes features within 1e-5 of Python on every fixture row", () => {
    let rows = 0;
    let worst = 0;
    for (const c of fx.cases) {
      const got = computeFeatures(c.query, c.rows);
      expect(got.length, c.query).toBe(c.features.length);
      expect(got.length).toBe(c.rows.length * FEATURE_NAMES.length);
      for (let i = 0; i < got.length; i++) {
        const d = Math.abs(got[i]! - c.features[i]!);
        worst = Math.max(worst, d);
        if (d > 1e-5) {
          const f = FEATURE_NAMES[i % FEATURE_NAMES.length];
          expect.fail(`${c.source} "${c.query}" row ${Math.floor(i / FEATURE_NAMES.length)} ${f}: ts ${got[i]} py ${c.features[i]}`);
        }
      }
      rows += c.rows.length;
    }
    expect(rows).toBeGreaterThan(100);
    expect(worst).toBeLessThanOrEqual(1e-5);
  });

  it("exercises matched, unmatched and missing-value rows", () => {
    const all = fx.cases.flatMap((c) => c.rows);
    expect(all.some((r) => r.bm25 === 0)).toBe(true);
    expect(all.some((r) => (r.bm25 ?? 0) > 0)).toBe(true);
    expect(all.some((r) => r.price === null)).toBe(true);
    expect(all.some((r) => r.rating === null)).toBe(true);
  });
});
