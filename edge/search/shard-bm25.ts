/**
 * bm25 of a sharded store with the whole store's statistics (README "Scale"). FTS5's bm25() reads its statistics
 * from the database it runs in — the row count N, the tokens of all rows, each phrase's document count n — so each
 * shard scores with its own, and lists merged by those scores are not the single database's. Here each shard also
 * answers, in the same round trip as its retrieval, its N and token total (the FTS5 table's averages record: rowid 1
 * of `{{fts}}_data`, varints: N, then each column's token total) and each query term's document count; the sums are
 * the store's statistics, and every retrieved row is re-scored with them by FTS5's own formula (sqlite's
 * fts5_aux.c, fts5Bm25Function):
 *
 *   score = Σ_phrases idf · f·(k1 + 1) / (f + k1·(1 − b + b·D/avgdl)),  k1 = 1.2, b = 0.75
 *   idf = ln((N − n + 0.5) / (n + 0.5)), or 1e-6 where that is ≤ 0;  avgdl = tokens / N
 *   f = Σ_columns weight · the phrase's hits in the column;  D = the row's tokens over all columns
 *
 * for the combined weights and each per-field score the light model reads (retrieve.sql's six bm25 columns). A row's
 * hits and length are counted with the edge's tokenizer (features.tokenize: NFKD, marks dropped, runs of letters
 * and digits), which is FTS5's unicode61 / remove_diacritics 2 for the text catalogues hold; the statistics are
 * FTS5's own. A shard's own order is not the store's (its avgdl and idfs differ), so each is first asked for half
 * as many rows again as the answer needs, then for four times as many while a row it has not returned could still
 * beat the merged list's last (storeScoreBound): the merged list is the single database's.
 */
import type { CandidateRow } from "./features";
import { tokenize } from "./features";

const K1 = 1.2;
const B = 0.75;

/** The FTS5 columns in table order (store-index.sql) and the weights of retrieve.sql's six scores. */
const COLUMNS = ["title", "brand", "color", "bullets", "description"] as const;
const SCORES: ReadonlyArray<readonly [keyof CandidateRow, readonly number[]]> = [
  ["bm25", [4, 2, 1, 1, 0.5]],
  ["bm25_title", [1, 0, 0, 0, 0]],
  ["bm25_brand", [0, 1, 0, 0, 0]],
  ["bm25_color", [0, 0, 1, 0, 0]],
  ["bm25_bullets", [0, 0, 0, 1, 0]],
  ["bm25_description", [0, 0, 0, 0, 1]],
];

/** How many rows each shard returns for an answer of n: n and half again (its order is close to the store's). */
export function shardRetrievalN(n: number): number {
  return n + Math.ceil(n / 2);
}

/** One shard's (or, summed, the store's) bm25 statistics. */
export interface Bm25Stats {
  rows: number;
  tokens: number;
  /** documents holding each query term */
  docs: number[];
}

/** The query's terms from its FTS5 match expression (matchExpression: `"a" OR "b"`), in order. */
export function matchTerms(match: string): string[] {
  return [...match.matchAll(/"((?:[^"]|"")*)"/g)].map((m) => m[1]!.replaceAll('""', '"'));
}

/** The statements that read a shard's statistics for `terms`: the averages record, then one count per term. */
export function statsStatements(db: D1Database, fts: string, terms: readonly string[]): D1PreparedStatement[] {
  return [
    db.prepare(`SELECT block FROM \`${fts}_data\` WHERE id = 1`),
    ...terms.map((t) =>
      db.prepare(`SELECT count(*) AS n FROM \`${fts}\` WHERE \`${fts}\` MATCH ?1`).bind(`"${t.replaceAll('"', '""')}"`),
    ),
  ];
}

/** The statistics from statsStatements' results (a table with no averages record yet holds no rows). */
export function readStats(results: readonly D1Result[]): Bm25Stats {
  const block = (results[0]?.results[0] as { block?: unknown } | undefined)?.block;
  const { rows, tokens } = block === undefined || block === null ? { rows: 0, tokens: 0 } : averages(bytes(block));
  const docs = results.slice(1).map((r) => Number((r.results[0] as { n?: number } | undefined)?.n ?? 0));
  return { rows, tokens, docs };
}

/** The store's statistics: the shards' summed. */
export function sumStats(parts: readonly Bm25Stats[]): Bm25Stats {
  const terms = parts[0]?.docs.length ?? 0;
  return {
    rows: parts.reduce((s, p) => s + p.rows, 0),
    tokens: parts.reduce((s, p) => s + p.tokens, 0),
    docs: Array.from({ length: terms }, (_, i) => parts.reduce((s, p) => s + (p.docs[i] ?? 0), 0)),
  };
}

/** FTS5's idf of each term under `stats`. */
function idfs(stats: Bm25Stats): number[] {
  const n = Math.max(stats.rows, 1);
  return stats.docs.map((d) => {
    const v = Math.log((0.5 + n - d) / (0.5 + d));
    return v <= 0 ? 1e-6 : v;
  });
}

/**
 * The most a row of `shard` whose shard-local bm25 is `local` can score with the store's statistics: each term's
 * contribution grows at most by the ratio of its idfs, and by the ratio of the average lengths where the store's is
 * the longer (f·(k1+1) / (f + k1·(1 − b) + k1·b·D/avgdl) grows with avgdl no faster than avgdl does). A shard whose
 * unread rows (local score ≤ its last row's) may still beat the merged list's last row is read further.
 */
export function storeScoreBound(local: number, shard: Bm25Stats, store: Bm25Stats): number {
  if (local <= 0 || shard.rows === 0) return 0;
  const [own, all] = [idfs(shard), idfs(store)];
  let ratio = 0;
  for (let i = 0; i < own.length; i++) if ((shard.docs[i] ?? 0) > 0) ratio = Math.max(ratio, all[i]! / own[i]!);
  const lengths = Math.max(1, store.tokens / Math.max(store.rows, 1) / (shard.tokens / shard.rows || 1));
  return local * ratio * lengths * (1 + 1e-9);
}

/** The six bm25 columns of each row recomputed with `stats` (rows are changed in place and returned). */
export function rescore(rows: CandidateRow[], terms: readonly string[], stats: Bm25Stats): CandidateRow[] {
  const avgdl = stats.tokens / Math.max(stats.rows, 1);
  const idf = idfs(stats);
  const index = new Map(terms.map((t, i) => [t, i]));
  for (const row of rows) {
    // hits[c][i]: term i's occurrences in column c; length: the row's tokens over all columns
    let length = 0;
    const hits = COLUMNS.map((c) => {
      const counts = new Array<number>(terms.length).fill(0);
      for (const tok of tokenize(row[c])) {
        length += 1;
        const i = index.get(tok);
        if (i !== undefined) counts[i]! += 1;
      }
      return counts;
    });
    const norm = K1 * (1 - B + (B * length) / avgdl);
    for (const [field, weights] of SCORES) {
      let score = 0;
      for (let i = 0; i < terms.length; i++) {
        let f = 0;
        for (let c = 0; c < COLUMNS.length; c++) f += weights[c]! * hits[c]![i]!;
        score += idf[i]! * ((f * (K1 + 1)) / (f + norm));
      }
      (row as unknown as Record<string, number>)[field] = score;
    }
  }
  return rows;
}

/** N and the token total from an FTS5 averages record: SQLite varints, N first, then one per column. */
export function averages(b: Uint8Array): { rows: number; tokens: number } {
  let pos = 0;
  const next = (): number => {
    const [v, end] = varint(b, pos);
    pos = end;
    return v;
  };
  const rows = next();
  let tokens = 0;
  while (pos < b.length) tokens += next();
  return { rows, tokens };
}

/** A SQLite varint at `pos` (big-endian 7-bit groups, high bit = more; a 9th byte carries 8 bits): value, end. */
export function varint(b: Uint8Array, pos: number): [number, number] {
  let v = 0;
  for (let i = 0; i < 8; i++) {
    const byte = b[pos + i];
    if (byte === undefined) throw new Error("truncated varint");
    v = v * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) return [v, pos + i + 1];
  }
  const last = b[pos + 8];
  if (last === undefined) throw new Error("truncated varint");
  return [v * 256 + last, pos + 9];
}

/** A BLOB column as D1 returns it (an array of byte values, or a buffer). */
function bytes(block: unknown): Uint8Array {
  if (block instanceof Uint8Array) return block;
  if (block instanceof ArrayBuffer) return new Uint8Array(block);
  if (Array.isArray(block)) return Uint8Array.from(block as number[]);
  throw new Error(`unexpected BLOB value: ${typeof block}`);
}
