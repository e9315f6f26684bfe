/**
 * Erasing a user of a store (DELETE /admin/stores/{store}/users/{user}): the user's events still in the durable
 * buffer first (so a drain cannot bring them back), then in one D1 batch (a transaction) the audit row — who asked,
 * when, and how many rows each table holds for the user, counted inside the same transaction as the deletes — and the
 * deletes: purchase history (recs_history), views (recs_views), dedupe ids (event_ids) and the user's MF vectors
 * (recs_vectors, kind "user", every model version) with their MF top-N lists (recs_mf_top). With no history and no vector the user's next /v1/recommend is
 * the cold-start answer: personalised answers are never cached (edge/recs/answer.ts), so no cache entry survives.
 * The audit row holds counts only, never the user's id. Erasing again removes 0 and is recorded again.
 */
import type { EventsBuffer } from "../events/buffer-object";

export interface ErasureCounts {
  history: number;
  views: number;
  eventIds: number;
  vectors: number;
  buffered: number;
}

export interface ErasureRecord {
  id: string;
  store: string;
  actor: string;
  /** unix ms */
  requestedAt: number;
  removed: ErasureCounts;
}

interface ErasureRow {
  id: string;
  store: string;
  actor: string;
  requested_at: number;
  history: number;
  views: number;
  event_ids: number;
  vectors: number;
  buffered: number;
}

const toRecord = (r: ErasureRow): ErasureRecord => ({
  id: r.id,
  store: r.store,
  actor: r.actor,
  requestedAt: r.requested_at,
  removed: { history: r.history, views: r.views, eventIds: r.event_ids, vectors: r.vectors, buffered: r.buffered },
});

/** ?1 id, ?2 store, ?3 actor, ?4 requested_at, ?5 user, ?6 buffered events removed */
const AUDIT_SQL = `INSERT INTO erasures (id, store, actor, requested_at, history, views, event_ids, vectors, buffered)
SELECT ?1, ?2, ?3, ?4,
  (SELECT count(*) FROM recs_history WHERE store = ?2 AND user_id = ?5),
  (SELECT count(*) FROM recs_views WHERE store = ?2 AND user_id = ?5),
  (SELECT count(*) FROM event_ids WHERE store = ?2 AND user_id = ?5),
  (SELECT count(*) FROM recs_vectors WHERE store = ?2 AND kind = 'user' AND key = ?5),
  ?6
RETURNING *`;

const DELETES = [
  "DELETE FROM recs_history WHERE store = ?1 AND user_id = ?2",
  "DELETE FROM recs_views WHERE store = ?1 AND user_id = ?2",
  "DELETE FROM event_ids WHERE store = ?1 AND user_id = ?2",
  "DELETE FROM recs_vectors WHERE store = ?1 AND kind = 'user' AND key = ?2",
  // the user's MF top-N list (derived from the vector, every model version; migration 0018)
  "DELETE FROM recs_mf_top WHERE store = ?1 AND kind = 'user' AND key = ?2",
];

export async function eraseUser(
  db: D1Database,
  buffer: Pick<EventsBuffer, "forget">,
  ask: { store: string; user: string; actor: string },
): Promise<ErasureRecord> {
  const buffered = await buffer.forget(ask.store, ask.user);
  const [audit] = await db.batch<ErasureRow>([
    db.prepare(AUDIT_SQL).bind(crypto.randomUUID(), ask.store, ask.actor, Date.now(), ask.user, buffered),
    ...DELETES.map((sql) => db.prepare(sql).bind(ask.store, ask.user)),
  ]);
  return toRecord(audit!.results[0]!);
}

/** The recorded erasures, newest first (of one store when given). */
export async function listErasures(db: D1Database, store: string | undefined, limit: number): Promise<ErasureRecord[]> {
  const { results } = await db
    .prepare("SELECT * FROM erasures WHERE ?1 IS NULL OR store = ?1 ORDER BY requested_at DESC, id LIMIT ?2")
    .bind(store ?? null, limit)
    .all<ErasureRow>();
  return results.map(toRecord);
}
