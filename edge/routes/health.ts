/**
 * GET /healthz → 200 JSON: the model versions this worker serves (bundled light models, which have a warm ORT
 * session in this isolate, the variants of the default store's search experiment) and its dependencies: D1 (a
 * `select 1` through the guarded read path — its deadline and breaker, edge/db/guarded.ts) and the GPU tier's
 * reachability (cached a few seconds).
 * Always 200 while the worker runs; `status` says "degraded" and `failing` lists the dependency when one fails.
 * GET /livez → 200 as long as the worker answers: it touches neither D1 nor the GPU tier.
 */
import { healthRoute, livezRoute } from "../api/health";
import { createApi } from "../api/openapi";
import { d1BreakerState } from "../db/d1-breaker";
import { probeD1 } from "../db/guarded";
import { getExperimentConfig } from "../experiments/config";
import { DEFAULT_HEAVY_MODEL, DEFAULT_LIGHT_MODEL } from "../generated/models";
import { gpuHealth } from "../gpu/ping";
import { bundledLightModels, warmLightModels } from "../scoring/light";
import { defaultStore, storeSet } from "../stores/resolve";

export const health = createApi();

health.openapi(livezRoute, (c) => c.json({ status: "ok" as const, requestId: c.get("requestId") }, 200));

health.openapi(healthRoute, async (c) => {
  const [d1, gpu, config] = await Promise.all([
    probeD1(c.env),
    gpuHealth(c.env),
    storeSet(c.env)
      .then((s) => s.defaultId, defaultStore)
      .then((store) => getExperimentConfig(c.env, { store, surface: "search" }))
      .catch(() => undefined),
  ]);
  const failing = [...(d1.ok ? [] : ["d1" as const]), ...(gpu.reachable ? [] : ["gpu" as const])];
  return c.json(
    {
      status: failing.length === 0 ? "ok" : "degraded",
      models: {
        light: bundledLightModels(),
        lightLoaded: warmLightModels(),
        defaultLight: DEFAULT_LIGHT_MODEL,
        defaultHeavy: DEFAULT_HEAVY_MODEL,
        variants:
          config?.variants.map((v) => ({ name: v.name, light: v.lightModel, heavy: v.heavyModel, weight: v.weight })) ??
          [],
        experiment: config?.experimentId ?? null,
      },
      gpu,
      dependencies: { d1: { ...d1, breaker: d1BreakerState(c.env) }, gpu: { ok: gpu.reachable } },
      failing,
      requestId: c.get("requestId"),
    },
    200,
  );
});
