/**
 * GET /healthz → 200 JSON: the model versions this worker serves (bundled light models, which have a warm ORT
 * session in this isolate, the variants of the default store's search experiment) and the GPU tier's reachability
 * (cached a few seconds).
 * Always 200 while the worker runs; `status` says "degraded" when the GPU tier is unreachable.
 */
import { healthRoute } from "../api/health";
import { createApi } from "../api/openapi";
import { getExperimentConfig } from "../experiments/config";
import { DEFAULT_HEAVY_MODEL, DEFAULT_LIGHT_MODEL } from "../generated/models";
import { gpuHealth } from "../gpu/ping";
import { bundledLightModels, warmLightModels } from "../scoring/light";
import { defaultStore, storeSet } from "../stores/resolve";

export const health = createApi();

health.openapi(healthRoute, async (c) => {
  const [gpu, config] = await Promise.all([
    gpuHealth(c.env),
    storeSet(c.env)
      .then((s) => s.defaultId, defaultStore)
      .then((store) => getExperimentConfig(c.env, { store, surface: "search" }))
      .catch(() => undefined),
  ]);
  return c.json(
    {
      status: gpu.reachable ? "ok" : "degraded",
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
      requestId: c.get("requestId"),
    },
    200,
  );
});
