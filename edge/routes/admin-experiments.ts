/**
 * A/B experiments, admin side (edge/api/admin-experiments.ts): each handler parses, calls edge/experiments/,
 * answers. A change is served by this isolate at once (its config cache is dropped) and by every other isolate
 * within CONFIG_VERSION_CHECK_S (the change bumps the experiment's version, edge/experiments/config.ts).
 */
import {
  createExperimentRoute,
  experimentChangesRoute,
  listExperimentsRoute,
  patchExperimentRoute,
} from "../api/admin-experiments";
import { createAdminApi, unknownStore } from "../api/openapi";
import {
  createExperiment,
  experimentChangesOf,
  listExperiments,
  patchExperiment,
  readExperiment,
} from "../experiments/admin";
import { invalidateExperimentConfig } from "../experiments/config";
import { experimentWindow, variantFigures } from "../experiments/figures";
import { resolveStoreName } from "../stores/resolve";

export const adminExperiments = createAdminApi();

const DEFAULT_ACTOR = "admin";

adminExperiments.openapi(createExperimentRoute, async (c) => {
  const body = c.req.valid("json");
  const actor = c.req.valid("header")["x-vitrine-actor"] ?? DEFAULT_ACTOR;
  const store = await resolveStoreName(c.env, body.store);
  if (store === undefined) return unknownStore(c, [body.store ?? ""]);
  const out = await createExperiment(
    c.env.DB,
    { store, surface: body.surface, id: body.id, variants: body.variants },
    actor,
    body.reason ?? null,
    Date.now(),
  );
  if (!out.ok) return c.json({ error: out.error, message: out.message }, out.httpStatus);
  invalidateExperimentConfig();
  return c.json(out.experiment, 201);
});

adminExperiments.openapi(listExperimentsRoute, async (c) => {
  const q = c.req.valid("query");
  let store: string | undefined;
  if (q.store !== undefined) {
    store = await resolveStoreName(c.env, q.store);
    if (store === undefined) return unknownStore(c, [q.store]);
  }
  const now = Date.now();
  const rows = await listExperiments(c.env.DB, {
    store,
    surface: q.surface,
    active: q.active === undefined ? undefined : q.active === "true",
    limit: q.limit,
  });
  const experiments = await Promise.all(
    rows.map(async (exp) => {
      const window = experimentWindow(await experimentChangesOf(c.env.DB, exp.id), now);
      return { ...exp, window, figures: await variantFigures(c.env, exp, window, now) };
    }),
  );
  return c.json({ experiments }, 200);
});

adminExperiments.openapi(patchExperimentRoute, async (c) => {
  const { id } = c.req.valid("param");
  const body = c.req.valid("json");
  const actor = c.req.valid("header")["x-vitrine-actor"] ?? DEFAULT_ACTOR;
  const out = await patchExperiment(
    c.env.DB,
    id,
    { weights: body.weights, active: body.active },
    actor,
    body.reason ?? null,
    Date.now(),
  );
  if (!out.ok) return c.json({ error: out.error, message: out.message }, out.httpStatus);
  invalidateExperimentConfig();
  return c.json(out.experiment, 200);
});

adminExperiments.openapi(experimentChangesRoute, async (c) => {
  const { id } = c.req.valid("param");
  if (!(await readExperiment(c.env.DB, id))) return c.json({ error: "not_found", message: `no experiment ${id}` }, 404);
  const changes = (await experimentChangesOf(c.env.DB, id)).map((r) => ({
    action: r.action,
    actor: r.actor,
    at: r.at,
    reason: r.reason,
    before: r.before === null ? null : (JSON.parse(r.before) as unknown),
    after: JSON.parse(r.after) as unknown,
  }));
  return c.json({ changes }, 200);
});
