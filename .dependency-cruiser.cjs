/**
 * The edge's module layering, checked by `npm run lint` (dependency-cruiser over edge/, type-only imports included):
 *
 *   index.ts, app.ts, scheduled.ts          composition: wire everything together
 *   routes/, dashboard/                     HTTP handlers and pages: parse, call one domain function, respond
 *   api/                                    the HTTP contracts (@hono/zod-openapi route declarations, shared zod primitives)
 *   drills/                                 failover drills (reach the GPU client only through a GpuScope)
 *   search/, recs/, catalog/                the two surfaces' answers and the catalogue they serve
 *   ranking/                                the ranking core both surfaces call: plan, two-stage runner, degraded reasons
 *   middleware/                             the HTTP middleware (request id, limits, auth, the metrics sample)
 *   gpu/, scoring/, cache/, experiments/, metrics/, releases/, events/, stores/, db/   services
 *   config.ts, env.ts, generated/           configuration, bindings, the pipeline's export
 *
 * Nothing imports upward: no cycles, and nothing below a folder reaches back up into it.
 */
const up = (name, from, to) => ({ name, severity: "error", from: { path: from }, to: { path: to } });

module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", from: {}, to: { circular: true } },
    up("routes-are-the-top", "^edge/(?!routes/|app\\.ts)", "^edge/routes/"),
    up("dashboard-is-the-top", "^edge/(?!dashboard/|routes/|app\\.ts)", "^edge/dashboard/"),
    up("api-is-for-routes", "^edge/(?!api/|routes/|dashboard/|app\\.ts)", "^edge/api/"),
    up(
      "drills-are-above-the-request-path",
      "^edge/(?!drills/|api/|routes/|dashboard/|app\\.ts|scheduled\\.ts)",
      "^edge/drills/",
    ),
    up(
      "surfaces-are-above-the-core",
      "^edge/(?!search/|recs/|catalog/|api/|routes/|dashboard/|drills/|app\\.ts|scheduled\\.ts)",
      "^edge/(search|recs|catalog)/",
    ),
    up(
      "the-core-is-above-services",
      "^edge/(gpu|scoring|cache|experiments|metrics|releases|events|stores|db|generated)/",
      "^edge/ranking/(two-stage|plan)\\.ts$",
    ),
    up("config-imports-no-domain", "^edge/config\\.ts$", "^edge/(?!generated/)"),
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^edge/generated/models\\.js$" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".tsx", ".js", ".d.ts"] },
  },
};
