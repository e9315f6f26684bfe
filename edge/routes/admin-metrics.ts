/**
 * Monitoring, admin side (edge/api/admin-metrics.ts): reads flush this isolate's pending aggregates first. `store=`
 * filters on a `stores` id: a malformed or unknown one is a 400, like any other filter value outside its set.
 */
import { alertsRoute, metricsRoute, silenceRoute } from "../api/admin-metrics";
import { createAdminApi, invalidRequest } from "../api/openapi";
import { config } from "../config";
import { listAlerts, silenceAlert } from "../metrics/alerts";
import { collectorState, flushNow } from "../metrics/collector";
import { geoCells } from "../metrics/geo";
import { queryRollup } from "../metrics/queries";
import { resolveStoreName } from "../stores/resolve";

export const adminMetrics = createAdminApi();

adminMetrics.openapi(metricsRoute, async (c) => {
  const q = c.req.valid("query");
  if (q.store !== undefined && (await resolveStoreName(c.env, q.store)) === undefined) {
    const message = `unknown store ${JSON.stringify(q.store)}`;
    return invalidRequest(c, message, [{ path: "store", message, code: "unknown_store" }]);
  }
  const flush = await flushNow(c.env.DB).catch((err: unknown) => ({ error: String(err) }));
  const cfg = config(c.env).metrics;
  const now = Math.floor(Date.now() / 1000);
  const { groupBy, ...rest } = q;
  const series = groupBy === "region" || groupBy === undefined ? rest : { ...rest, groupBy };
  const result = await queryRollup(c.env.DB, series, cfg.minuteRetentionS, now);
  const byGeo = groupBy === "colo" || groupBy === "region";
  const geo = byGeo ? { geo: await geoCells(c.env.DB, q, cfg.minuteRetentionS, now) } : {};
  return c.json(
    { ...result, groupBy: groupBy ?? null, ...geo, collector: { ...collectorState(), lastFlush: flush } },
    200,
  );
});

adminMetrics.openapi(alertsRoute, async (c) => {
  const q = c.req.valid("query");
  return c.json({ alerts: await listAlerts(c.env.DB, q.state, q.limit) }, 200);
});

adminMetrics.openapi(silenceRoute, async (c) => {
  const { id } = c.req.valid("param");
  const until = Math.floor(Date.now() / 1000) + c.req.valid("json").minutes * 60;
  if (!(await silenceAlert(c.env.DB, id, until))) return c.json({ error: "not_found", message: "no such alert" }, 404);
  return c.json({ id, silencedUntil: until }, 200);
});
