/**
 * Erasure of a user's data, admin (bearer ADMIN_TOKEN) — the HTTP contract (handlers: edge/routes/admin-erasure.ts;
 * the domain: edge/erasure/erase.ts):
 *  DELETE /admin/stores/{store}/users/{user}   erase the user's history, views, event ids, MF vectors and buffered
 *                                              events; recorded (who: `x-vitrine-actor`, when, counts only)
 *  GET    /admin/erasures?store=&limit=        the recorded erasures, newest first
 */
import { storePath } from "./admin-catalog";
import { defineRoute, errorSchemas, json, z } from "./openapi";
import { limit, storeId, user } from "./params";

/** Who asks, as the audit records it: a person or system label (not a secret), printable ASCII. */
export const actorHeader = z.object({
  "x-vitrine-actor": z
    .string()
    .trim()
    .min(1, "x-vitrine-actor must not be empty")
    .max(64, "x-vitrine-actor must be at most 64 characters")
    .regex(/^[\x20-\x7e]+$/, "x-vitrine-actor must be printable ASCII")
    .optional()
    .openapi({
      description: "who asks (recorded in the audit); default: the credential kind (admin-token / dashboard)",
    }),
});

const userPath = storePath.extend({ user: user.openapi({ param: { name: "user", in: "path" } }) });

const erasureSchema = z
  .object({
    id: z.string(),
    store: z.string(),
    actor: z.string(),
    requestedAt: z.number().int().openapi({ description: "unix ms" }),
    removed: z
      .object({
        history: z.number().int().openapi({ description: "recs_history rows (purchases, cart adds)" }),
        views: z.number().int().openapi({ description: "recs_views rows (clicks)" }),
        eventIds: z.number().int().openapi({ description: "event_ids rows (dedupe ids)" }),
        vectors: z.number().int().openapi({ description: "the user's MF vectors (every model version)" }),
        buffered: z.number().int().openapi({ description: "the user's events still in the durable buffer" }),
      })
      .openapi({ description: "rows removed per place: counts only, the user's id is not recorded" }),
  })
  .openapi("Erasure");

export const eraseUserRoute = defineRoute("admin", "delete", "/stores/{store}/users/{user}", {
  summary: "Erase a user: history, views, event ids, MF vectors, buffered events; the next recommend is cold-start",
  description:
    "Idempotent: erasing again removes 0 (and is recorded again). The request is recorded with who asked " +
    "(`x-vitrine-actor`), when and the counts removed — never the user's id. Aggregates (item statistics, " +
    "neighbours, metric rollups) are not per-user data and follow on their next rebuild.",
  request: { params: userPath, headers: actorHeader },
  responses: {
    200: json("erased (the audit record)", erasureSchema),
    404: json("the store does not exist (error unknown_store)", errorSchemas.NotFound),
    503: json(
      "not completed: D1 or the events buffer failed (error erasure_unavailable); erasing again is safe",
      errorSchemas.Unavailable,
    ),
  },
});

export const listErasuresRoute = defineRoute("admin", "get", "/erasures", {
  summary: "The recorded erasures, newest first",
  request: { query: z.object({ store: storeId.optional(), limit: limit(1000, 100) }) },
  responses: { 200: json("the erasures", z.object({ erasures: z.array(erasureSchema) })) },
});
