/**
 * The recommendation surface's last stand-in while D1 is down: per store, a last-known-good non-personalised list
 * (its trending available products, most trending first) that the scheduled worker writes to KV every run
 * (`recs:lkg:<store>`, rewritten only when it changed) and /v1/recommend serves — filtered to k, without the page
 * / cart ids, degraded `d1_unavailable` — when D1 fails and no cached answer of the ask is left. KV is read with
 * the edge's own cache (cacheTtl), so it answers without D1 and without a round trip to KV's central store.
 */
import { z } from "zod";
import type { Bindings } from "../env";
import type { ItemScores, RecommendItem } from "./rank";

/** Items kept per store (more than any k, so excluded page / cart ids still leave k). */
export const LKG_ITEMS = 100;
const KV_CACHE_TTL_S = 60;

export const lkgKey = (store: string): string => `recs:lkg:${store}`;

const listSchema = z.object({
  store: z.string(),
  /** the recs version whose item stats ranked it */
  version: z.string(),
  builtAt: z.number(),
  items: z.array(z.object({ id: z.string(), title: z.string(), price: z.number().nullable(), trend: z.number() })),
});
export type LastKnownGood = z.infer<typeof listSchema>;

/** Every store with recommendation tables: its trending available products under its current recs version. */
const TRENDING_SQL = `SELECT s.item_id AS id, p.title AS title, p.price AS price, s.trend AS trend
FROM recs_current c
JOIN recs_item_stats s ON s.store = c.store AND s.model_version = c.model_version
JOIN products p ON p.store = s.store AND p.id = s.item_id AND p.available = 1
WHERE c.store = ?1 AND s.trend > 0
ORDER BY s.trend DESC, s.item_id LIMIT ?2`;

/** The EVERY_MINUTE job: each store's list, written to KV when it changed. */
export async function refreshLastKnownGood(env: Bindings): Promise<void> {
  const { results: current } = await env.DB.prepare("SELECT store, model_version AS version FROM recs_current").all<{
    store: string;
    version: string;
  }>();
  for (const { store, version } of current) {
    try {
      const { results } = await env.DB.prepare(TRENDING_SQL)
        .bind(store, LKG_ITEMS)
        .all<LastKnownGood["items"][number]>();
      if (results.length === 0) continue;
      const held = await readLastKnownGood(env, store);
      const same = held?.version === version && JSON.stringify(held.items) === JSON.stringify(results);
      if (same) continue;
      const list: LastKnownGood = { store, version, builtAt: Date.now(), items: results };
      await env.KV.put(lkgKey(store), JSON.stringify(list));
      console.log(JSON.stringify({ event: "recs_lkg_written", store, version, items: results.length }));
    } catch (err) {
      console.error(JSON.stringify({ event: "recs_lkg_failed", store, error: String(err) }));
    }
  }
}

/** The store's list in KV; undefined when none (or unreadable). */
export async function readLastKnownGood(env: Bindings, store: string): Promise<LastKnownGood | undefined> {
  const raw = await env.KV.get(lkgKey(store), { type: "json", cacheTtl: KV_CACHE_TTL_S }).catch(() => null);
  const parsed = listSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

/**
 * The store's list as recommended items: k of them, without the page / cart ids (`exclude`); undefined when the
 * store has none. Its `version` is the recs version that ranked it.
 */
export async function lastKnownGoodItems(
  env: Bindings,
  store: string,
  k: number,
  exclude: readonly string[],
): Promise<{ version: string; items: RecommendItem[] } | undefined> {
  const list = await readLastKnownGood(env, store);
  if (!list) return undefined;
  const skip = new Set(exclude);
  const items = list.items
    .filter((i) => !skip.has(i.id))
    .slice(0, k)
    .map((i): RecommendItem => {
      const scores: ItemScores = {
        repeat: 0,
        recency: 0,
        copurchase: 0,
        mf: 0,
        content: 0,
        trending: i.trend,
        light: i.trend,
        heavy: null,
      };
      return { id: i.id, title: i.title, price: i.price, score: i.trend, scores, sources: ["trending"] };
    });
  return { version: list.version, items };
}
