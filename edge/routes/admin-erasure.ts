/** Erasure, admin side (edge/api/admin-erasure.ts): each handler parses, calls edge/erasure/, answers. */
import { eraseUserRoute, listErasuresRoute } from "../api/admin-erasure";
import { createAdminApi, unknownStore } from "../api/openapi";
import { eraseUser, listErasures } from "../erasure/erase";
import { eventsBuffer } from "../events/writer";
import { resolveStoreName } from "../stores/resolve";

export const adminErasure = createAdminApi();

adminErasure.openapi(eraseUserRoute, async (c) => {
  const { store, user } = c.req.valid("param");
  if ((await resolveStoreName(c.env, store)) !== store) return unknownStore(c, [store]);
  const actor =
    c.req.valid("header")["x-vitrine-actor"] ?? (c.req.header("authorization") ? "admin-token" : "dashboard");
  try {
    return c.json(await eraseUser(c.env.DB, eventsBuffer(c.env), { store, user, actor }), 200);
  } catch (err) {
    console.error("erasure failed", err);
    c.header("Retry-After", "5");
    const message = "the erasure did not complete (the database or the events buffer is unavailable): retry it";
    return c.json({ error: "erasure_unavailable", message, requestId: c.get("requestId") }, 503);
  }
});

adminErasure.openapi(listErasuresRoute, async (c) => {
  const { store, limit } = c.req.valid("query");
  return c.json({ erasures: await listErasures(c.env.DB, store, limit) }, 200);
});
