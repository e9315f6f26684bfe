/**
 * The AnnIndex over the pipeline's precomputed MF top-N lists in D1 (`recs_mf_top`, vitrine_gpu/recs/mf_top.py): one
 * row per user / seed item, read by primary key. A known user's list and one page item's list are the exact top N of
 * a scan over every sold item; several seeds (a cart) sum their lists — Σ weight × score / Σ weight, which is the
 * scan's score of the weighted mean vector for every item on all the lists (an item missing from a seed's list adds
 * 0 for that seed: it lies below that list's last score).
 */
import { and, eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { recsMfTop } from "../../db/schema";
import { byScore, type AnnIndex, type AnnMatch, type AnnScope, type AnnSeeds } from "./types";

interface ListRow {
  key: string;
  items: string;
  scores: string;
}

function matches(row: ListRow): AnnMatch[] {
  const ids = JSON.parse(row.items) as string[];
  const scores = JSON.parse(row.scores) as number[];
  return ids.map((id, i) => ({ id, score: Math.fround(scores[i] ?? 0) }));
}

/** Awaited here: a drizzle query builder is a thenable that runs again on every then()/catch(). */
async function lists(
  db: D1Database,
  scope: AnnScope,
  kind: "user" | "item",
  keys: readonly string[],
): Promise<ListRow[]> {
  return await drizzle(db)
    .select({ key: recsMfTop.key, items: recsMfTop.items, scores: recsMfTop.scores })
    .from(recsMfTop)
    .where(
      and(
        eq(recsMfTop.store, scope.store),
        eq(recsMfTop.modelVersion, scope.version),
        eq(recsMfTop.kind, kind),
        sql`${recsMfTop.key} IN (SELECT value FROM json_each(${JSON.stringify(keys)}))`,
      ),
    );
}

/** `read`: the request's guarded D1 read (edge/db/guarded.ts). */
export function d1ListsIndex(read: <T>(query: (db: D1Database) => Promise<T>) => Promise<T>): AnnIndex {
  return {
    backend: "d1-lists",
    async queryUser(scope, user, _vector, topK) {
      const [row] = await read((db) => lists(db, scope, "user", [user]));
      return row ? matches(row).slice(0, topK) : null;
    },
    async querySeeds(scope: AnnScope, seeds: AnnSeeds, topK: number) {
      if (seeds.ids.length === 0) return [];
      const rows = await read((db) => lists(db, scope, "item", [...new Set(seeds.ids)]));
      const byKey = new Map(rows.map((r) => [r.key, matches(r)]));
      const acc = new Map<string, number>();
      let wsum = 0;
      seeds.ids.forEach((id, s) => {
        const w = seeds.weights[s]!;
        wsum = Math.fround(wsum + w);
        for (const m of byKey.get(id) ?? []) acc.set(m.id, (acc.get(m.id) ?? 0) + m.score * w);
      });
      const div = Math.max(wsum, 1e-9);
      return [...acc]
        .map(([id, s]) => ({ id, score: Math.fround(s / div) }))
        .sort(byScore)
        .slice(0, topK);
    },
  };
}
