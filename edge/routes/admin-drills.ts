/**
 * Failover drills, admin side (edge/api/admin-drills.ts). The probes go through the app this router is mounted in,
 * whose fetch edge/app.ts passes in (so the drills never import the app).
 */
import { getDrillRoute, listDrillsRoute, runDrillRoute } from "../api/admin-drills";
import { createAdminApi } from "../api/openapi";
import { SCENARIOS } from "../drills/context";
import type { AppFetch } from "../drills/probe";
import { getDrillReport, listDrillReports } from "../drills/reports";
import { drillInProgress, runDrill } from "../drills/runner";

export function adminDrills(app: AppFetch) {
  const router = createAdminApi();

  router.openapi(runDrillRoute, async (c) => {
    const { scenario } = c.req.valid("json");
    const busy = drillInProgress();
    if (busy)
      return c.json({ error: "drill_in_progress", message: `drill ${busy} is running; try again when it ends` }, 409);
    return c.json(await runDrill(app, c.env, c.executionCtx as ExecutionContext, scenario, "admin"), 200);
  });

  router.openapi(listDrillsRoute, async (c) => {
    const { limit } = c.req.valid("query");
    // reports first: clients that take the first list in the object get the reports
    return c.json({ drills: await listDrillReports(c.env.DB, limit), scenarios: [...SCENARIOS] }, 200);
  });

  router.openapi(getDrillRoute, async (c) => {
    const { id } = c.req.valid("param");
    const report = await getDrillReport(c.env.DB, id);
    if (!report) return c.json({ error: "not_found", message: `no drill run ${id}` }, 404);
    return c.json(report, 200);
  });

  return router;
}
