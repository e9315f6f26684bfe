/**
 * Failover drills, admin side (edge/api/admin-drills.ts). The probes go through the app this router is mounted in,
 * whose fetch edge/app.ts passes in (so the drills never import the app).
 */
import { getDrillRoute, listDrillsRoute, postDrillReportRoute, runDrillRoute } from "../api/admin-drills";
import { createAdminApi } from "../api/openapi";
import { config } from "../config";
import { requestLocation } from "../gpu/request-location";
import { SCENARIOS } from "../drills/context";
import { EXTERNAL_SCENARIOS, storeExternalReport } from "../drills/external";
import type { AppFetch } from "../drills/probe";
import { getDrillReport, listDrillReports } from "../drills/reports";
import { drillInProgress, runDrill } from "../drills/runner";

export function adminDrills(app: AppFetch) {
  const router = createAdminApi();

  router.openapi(runDrillRoute, async (c) => {
    const { scenario, colo } = c.req.valid("json");
    const busy = drillInProgress();
    if (busy)
      return c.json({ error: "drill_in_progress", message: `drill ${busy} is running; try again when it ends` }, 409);
    // the probes' colo: asked, else DRILL_COLO, else where this admin request entered the edge
    const from = colo ?? (config(c.env).drills.colo || requestLocation(c.env, c.req.raw).colo);
    const ctx = c.executionCtx as ExecutionContext;
    return c.json(await runDrill(app, c.env, ctx, scenario, "admin", { colo: from }), 200);
  });

  router.openapi(listDrillsRoute, async (c) => {
    const { limit } = c.req.valid("query");
    // reports first: clients that take the first list in the object get the reports
    return c.json(
      { drills: await listDrillReports(c.env.DB, limit), scenarios: [...SCENARIOS, ...EXTERNAL_SCENARIOS] },
      200,
    );
  });

  router.openapi(postDrillReportRoute, async (c) => {
    const id = await storeExternalReport(c.env, c.req.valid("json"));
    return c.json({ id }, 201);
  });

  router.openapi(getDrillRoute, async (c) => {
    const { id } = c.req.valid("param");
    const report = await getDrillReport(c.env.DB, id);
    if (!report) return c.json({ error: "not_found", message: `no drill run ${id}` }, 404);
    return c.json(report, 200);
  });

  return router;
}
