/**
 * GET /v1/recommend: parse (edge/api/recommend.ts), resolve the store and the experiment unit, ask the
 * recommendation surface (edge/recs/answer.ts), respond (edge/routes/ranked.ts).
 */
import { createApi, unknownStore } from "../api/openapi";
import { recommendRoute } from "../api/recommend";
import { unitId } from "../experiments/assign";
import { requestMetrics } from "../middleware/request-metrics";
import { recommendAnswer } from "../recs/answer";
import { requestStore } from "../stores/resolve";
import { rankingRequest, respondRanked } from "./ranked";

export const recommend = createApi();

recommend.openapi({ ...recommendRoute, middleware: requestMetrics("recommend") }, async (c) => {
  const { store: named, user, item, cart, k } = c.req.valid("query");
  const store = await requestStore(c, named);
  if (store === undefined) return unknownStore(c, [named ?? ""]);
  const unit = await unitId(c, user);
  return respondRanked(c, await recommendAnswer(rankingRequest(c), { store, user, item, cart, k, unit }));
});
