/**
 * Failover drills, admin side (bearer ADMIN_TOKEN) — the HTTP contract (handlers: edge/routes/admin-drills.ts):
 *  POST /admin/drills/run {scenario, colo?}  runs one scenario now (bounded, ≈ ≤ 15 s) and answers its report; the
 *                                      probes come from `colo` (default DRILL_COLO, else the request's own cf.colo)
 *  GET  /admin/drills?limit=           recent runs, newest first: {drills: [...]}
 *  GET  /admin/drills/{id}             one run with its timeline
 *  POST /admin/drills/reports          stores the report of a drill run outside the worker (scenario d1_restore)
 * A report is described loosely: its timeline varies by scenario (edge/drills/reports.ts).
 */
import { scenarioSchema } from "../drills/context";
import { externalReportSchema } from "../drills/external";
import { defineRoute, errorSchemas, json, jsonBody, z } from "./openapi";
import { limit, resourceId } from "./params";

const reportSchema = z.object({ id: z.string() }).passthrough();

export const runDrillRoute = defineRoute("admin", "post", "/drills/run", {
  summary: "Run one failover drill scenario now (bounded) and answer its report",
  request: {
    body: jsonBody(
      z
        .object({
          scenario: scenarioSchema,
          colo: z
            .string()
            .regex(/^[A-Za-z]{3}$/, "an IATA code such as SYD")
            .optional()
            .describe(
              "the edge location the probes come from: primary_down takes its nearest GPU region down (default DRILL_COLO, else this request's own cf.colo)",
            ),
        })
        .strict(),
    ),
  },
  responses: {
    200: json("the drill report", reportSchema),
    409: json("another drill is running (error drill_in_progress)", errorSchemas.Conflict),
  },
});

export const listDrillsRoute = defineRoute("admin", "get", "/drills", {
  summary: "Recent drill runs, newest first",
  request: { query: z.object({ limit: limit(200, 50) }) },
  responses: {
    200: json("reports and the scenarios", z.object({ drills: z.array(reportSchema), scenarios: z.array(z.string()) })),
  },
});

export const getDrillRoute = defineRoute("admin", "get", "/drills/{id}", {
  summary: "One drill run with its timeline",
  request: { params: resourceId("drill") },
  responses: { 200: json("the drill report", reportSchema) },
});

export const postDrillReportRoute = defineRoute("admin", "post", "/drills/reports", {
  summary: "Store the report of a drill run outside the worker (the D1 restore drill: npm run drill:restore)",
  request: { body: jsonBody(externalReportSchema) },
  responses: { 201: json("stored: the drill run's id", z.object({ id: z.string() })) },
});
