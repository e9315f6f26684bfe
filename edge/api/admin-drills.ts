/**
 * Failover drills, admin side (bearer ADMIN_TOKEN) — the HTTP contract (handlers: edge/routes/admin-drills.ts):
 *  POST /admin/drills/run {scenario}   runs one scenario now (bounded, ≈ ≤ 15 s) and answers its report
 *  GET  /admin/drills?limit=           recent runs, newest first: {drills: [...]}
 *  GET  /admin/drills/{id}             one run with its timeline
 * A report is described loosely: its timeline varies by scenario (edge/drills/reports.ts).
 */
import { scenarioSchema } from "../drills/context";
import { defineRoute, errorSchemas, json, jsonBody, z } from "./openapi";
import { limit, resourceId } from "./params";

const reportSchema = z.object({ id: z.string() }).passthrough();

export const runDrillRoute = defineRoute("admin", "post", "/drills/run", {
  summary: "Run one failover drill scenario now (bounded) and answer its report",
  request: { body: jsonBody(z.object({ scenario: scenarioSchema }).strict()) },
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
