/**
 * A store's catalogue version as the response cache keys read it (edge/search/answer.ts, edge/recs/answer.ts): every
 * catalogue write bumps it (edge/catalog/ingest.ts), so no answer cached before a write is served after it. The
 * isolate that wrote knows the new version at once; the others re-read it (one indexed row) at most every
 * CONFIG_VERSION_CHECK_S — under `wrangler dev`, one isolate, the next request sees the write.
 */
import { config } from "../config";
import { readD1 } from "../db/guarded";
import type { Bindings } from "../env";

const known = new Map<string, { version: number; checkedAt: number }>();

/**
 * What this isolate wrote or read: the store's version is at least `version` from now on (a read that started
 * before a write and ends after it never takes the version back).
 */
export function noteCatalogVersion(store: string, version: number, now = Date.now()): void {
  const held = known.get(store);
  known.set(store, { version: Math.max(version, held?.version ?? 0), checkedAt: now });
}

export async function catalogVersion(env: Bindings, store: string, now = Date.now()): Promise<number> {
  const held = known.get(store);
  if (held && now - held.checkedAt < config(env).experiments.versionCheckMs) return held.version;
  const row = await readD1(env, (db) =>
    db.prepare("SELECT catalog_version AS v FROM stores WHERE id = ?1").bind(store).first<{ v: number }>(),
  );
  const version = row?.v ?? 0;
  noteCatalogVersion(store, version, now);
  return version;
}
