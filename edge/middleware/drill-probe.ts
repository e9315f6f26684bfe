/**
 * Drill detection: a request carrying a verified drill header (edge/drills/header.ts) is a failover-drill probe;
 * `c.var.drill` holds what it injects (edge/drills/faults.ts) — undefined for every other request, forged or
 * replayed headers included.
 */
import { createMiddleware } from "hono/factory";
import { type DrillProbe, drillProbeOf } from "../drills/faults";
import { drillContextOf } from "../drills/header";
import type { Bindings } from "../env";

export interface DrillVariables {
  drill?: DrillProbe;
}

export const drillProbe = createMiddleware<{ Bindings: Bindings; Variables: DrillVariables }>(async (c, next) => {
  const drill = await drillContextOf(c.env, c.req.raw);
  if (drill) c.set("drill", drillProbeOf(drill));
  await next();
});
