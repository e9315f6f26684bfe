/**
 * Drill detection, mounted on /v1/* after the rate limiter (which exempts signed probes: isSignedDrillProbe): a request carrying a verified drill header
 * (edge/drills/header.ts) is a failover-drill probe, and `c.var.synthetic` tells the rest of the request what that
 * means — its own GPU and D1 scopes with the injected faults (edge/drills/scope.ts) and whether it bypasses the
 * response cache. Every other request, forged or replayed headers included, has no `synthetic`.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { drillBypassesCache } from "./context";
import { DRILL_HEADER, drillContextOf, signedDrillHeader } from "./header";
import { probeD1Scope, probeGpuScope } from "./scope";

export const drillProbe = createMiddleware<AppEnv>(async (c, next) => {
  const drill = await drillContextOf(c.env, c.req.raw);
  if (drill)
    c.set("synthetic", {
      kind: "drill",
      gpu: probeGpuScope(drill),
      d1: probeD1Scope(c.env, drill),
      bypassCache: drillBypassesCache(drill),
    });
  await next();
});

/** A request with a signed, fresh drill header (nonce not claimed): the API rate limiter exempts it. */
export async function isSignedDrillProbe(c: Context<AppEnv>): Promise<boolean> {
  return (await signedDrillHeader(c.env, c.req.header(DRILL_HEADER))).ok;
}
