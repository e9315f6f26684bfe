/**
 * Failover drills, admin side (bearer ADMIN_TOKEN); the probes go through the app this router is mounted in,
 * whose fetch edge/app.ts passes in (so the drills never import the app):
 *  POST /admin/drills/run {scenario}   runs one scenario now (bounded, ≈ ≤ 15 s) and answers its report
 *  GET  /admin/drills?limit=           recent runs, newest first: {drills: [...]}
 *  GET  /admin/drills/:id              one run with its timeline
 */
import { Hono } from "hono";
import { zValidator } from "@hono/zod-validator";
import { z } from "zod";
import { requireAdmin } from "../admin/auth";
import type { AppEnv } from "../env";
import { zodHook } from "../middleware/errors";
import { scenarioSchema, SCENARIOS } from "../drills/context";
import { getDrillReport, listDrillReports } from "../drills/reports";
import type { AppFetch } from "../drills/probe";
import { drillInProgress, runDrill } from "../drills/runner";
import { describeRoute, json } from "../openapi/registry";

const runSchema = z.object({ scenario: scenarioSchema }).strict();
const listSchema = z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) });
const idSchema = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9_-]+$/, "malformed drill id"),
});

/** A drill report (edge/drills/reports.ts): described loosely, its timeline varies by scenario. */
const reportSchema = z.object({ id: z.string() }).passthrough();

describeRoute({
  method: "post",
  path: "/admin/drills/run",
  access: "admin",
  summary: "Run one failover drill scenario now (bounded) and answer its report",
  body: runSchema,
  responses: {
    200: json("the drill report", reportSchema),
    409: json("another drill is running", z.object({ error: z.string(), message: z.string() })),
  },
});
describeRoute({
  method: "get",
  path: "/admin/drills",
  access: "admin",
  summary: "Recent drill runs, newest first",
  query: listSchema,
  responses: {
    200: json("reports and the scenarios", z.object({ drills: z.array(reportSchema), scenarios: z.array(z.string()) })),
  },
});
describeRoute({
  method: "get",
  path: "/admin/drills/:id",
  access: "admin",
  summary: "One drill run with its timeline",
  params: idSchema,
  responses: { 200: json("the drill report", reportSchema) },
});

export function adminDrills(app: AppFetch): Hono<AppEnv> {
  const router = new Hono<AppEnv>();

  router.use("/drills", requireAdmin);
  router.use("/drills/*", requireAdmin);

  router.post("/drills/run", zValidator("json", runSchema, zodHook), async (c) => {
    const { scenario } = c.req.valid("json");
    const busy = drillInProgress();
    if (busy)
      return c.json({ error: "drill_in_progress", message: `drill ${busy} is running; try again when it ends` }, 409);
    const report = await runDrill(app, c.env, c.executionCtx as ExecutionContext, scenario, "admin");
    return c.json(report);
  });

  router.get("/drills", zValidator("query", listSchema, zodHook), async (c) => {
    const { limit } = c.req.valid("query");
    // reports first: clients that take the first list in the object get the reports
    return c.json({ drills: await listDrillReports(c.env.DB, limit), scenarios: SCENARIOS });
  });

  router.get("/drills/:id", zValidator("param", idSchema, zodHook), async (c) => {
    const { id } = c.req.valid("param");
    const report = await getDrillReport(c.env.DB, id);
    if (!report) return c.json({ error: "not_found", message: `no drill run ${id}` }, 404);
    return c.json(report);
  });

  return router;
}
