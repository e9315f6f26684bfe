/**
 * CONTRACTS.md C2 parity: the TypeScript features (edge/search/features.ts) against the Python ones (vitrine_gpu/search/features.py),
 * on the fixture Python wrote from rows retrieved with the shared SQL (`python -m vitrine_gpu search fixture`).
 * The rows carry the token columns the catalog build precomputed; Python's features come from the raw text, so
 * matching them also checks those columns. Rows without the columns (the raw-text fallback) must match too.
 */
import { describe, expect, it } from "vitest";
import {
  computeFeatures,
  FEATURE_NAMES,
  matchExpression,
  tokenColumns,
  tokenize,
  type CandidateRow,
  type TokenColumns,
} from "../../edge/search/features";
import { productRow, productSchema } from "../../edge/catalog/product";
import fixture from "../fixtures/features-parity.json";

interface Fixture {
  catalog: { product: unknown; row: Record<string, unknown> }[];
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

  it("maps a catalogue API product to the row Python's pipeline writes (one mapping into D1)", () => {
    expect(fx.catalog.length).toBeGreaterThan(10);
    for (const c of fx.catalog) {
      const row = productRow(productSchema.parse(c.product));
      expect(row, JSON.stringify(c.product).slice(0, 80)).toEqual(c.row);
    }
  });

  it("computes the same token columns as the catalog build", () => {
    const rows = fx.cases.flatMap((c) => c.rows);
    expect(rows.length).toBeGreaterThan(100);
    for (const r of rows) {
      const want = tokenColumns(r);
      const have = Object.fromEntries(Object.keys(want).map((k) => [k, r[k as keyof TokenColumns]]));
      expect(have, r.id).toEqual(want);
    }
  });

  it.each([
    ["precomputed token columns", (r: CandidateRow) => r],
    [
      "raw text only (token columns null)",
      (r: CandidateRow) =>
        ({ ...r, ...Object.fromEntries(Object.keys(tokenColumns(r)).map((k) => [k, null])) }) as CandidateRow,
    ],
  ])("computes features within 1e-5 of Python on every fixture row: %s", (_, rowOf) => {
    let rows = 0;
    let worst = 0;
    for (const c of fx.cases) {
      const got = computeFeatures(c.query, c.rows.map(rowOf));
      expect(got.length, c.query).toBe(c.features.length);
      expect(got.length).toBe(c.rows.length * FEATURE_NAMES.length);
      for (let i = 0; i < got.length; i++) {
        const d = Math.abs(got[i]! - c.features[i]!);
        worst = Math.max(worst, d);
        if (d > 1e-5) {
          const f = FEATURE_NAMES[i % FEATURE_NAMES.length];
          expect.fail(
            `${c.source} "${c.query}" row ${Math.floor(i / FEATURE_NAMES.length)} ${f}: ts ${got[i]} py ${c.features[i]}`,
          );
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
