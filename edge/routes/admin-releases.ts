/** Model releases, admin side (edge/api/admin-releases.ts): each handler parses, calls edge/releases/, answers. */
import {
  abortReleaseRoute,
  createReleaseRoute,
  getReleaseRoute,
  listReleasesRoute,
  rollbackReleaseRoute,
  tickReleaseRoute,
} from "../api/admin-releases";
import { createAdminApi, invalidRequest, unknownStore } from "../api/openapi";
import { invalidateExperimentConfig } from "../experiments/config";
import { createRelease, getRelease, listReleases, releaseDecisionsOf, releaseView } from "../releases/store";
import { KIND_TARGET } from "../releases/store";
import { rollbackProduction } from "../releases/rollback";
import { abortRelease, tickRelease } from "../releases/tick";
import { noticeRefusal } from "../releases/notice";
import { resolveStoreName } from "../stores/resolve";

const notFound = (id: string) => ({ error: "not_found", message: `no release ${id}` });

export const adminReleases = createAdminApi();

adminReleases.openapi(createReleaseRoute, async (c) => {
  const body = c.req.valid("json");
  const store = await resolveStoreName(c.env, body.store);
  if (store === undefined) return unknownStore(c, [body.store ?? ""]);
  const out = await createRelease(c.env.DB, { ...body, store }, Date.now());
  if (!out.ok) return c.json({ error: out.error, message: out.message }, out.httpStatus);
  if (out.status === "refused")
    await noticeRefusal(c.env, { id: out.id, store, kind: body.kind, version: body.version }, body.reason ?? "refused");
  invalidateExperimentConfig(); // this isolate serves the canary at once; the others within CONFIG_VERSION_CHECK_S
  return c.json({ id: out.id, status: out.status }, 201);
});

adminReleases.openapi(listReleasesRoute, async (c) => {
  const rows = await listReleases(c.env.DB, c.req.valid("query").limit);
  return c.json({ releases: rows.map(releaseView) }, 200);
});

adminReleases.openapi(getReleaseRoute, async (c) => {
  const { id } = c.req.valid("param");
  const r = await getRelease(c.env.DB, id);
  if (!r) return c.json(notFound(id), 404);
  const decisions = (await releaseDecisionsOf(c.env.DB, id)).map((d) => ({
    ...d,
    figures: JSON.parse(d.figures) as unknown,
  }));
  return c.json({ ...releaseView(r), decisions }, 200);
});

adminReleases.openapi(tickReleaseRoute, async (c) => {
  const { id } = c.req.valid("param");
  const out = await tickRelease(c.env, id);
  if (!out) return c.json(notFound(id), 404);
  return c.json(out, 200);
});

adminReleases.openapi(abortReleaseRoute, async (c) => {
  const { id } = c.req.valid("param");
  const out = await abortRelease(c.env, id, c.req.valid("json").reason);
  if (!out.found) return c.json(notFound(id), 404);
  if (!out.aborted || !out.release)
    return c.json(
      { error: "not_in_canary", message: `release ${id} is ${out.release?.status ?? "changing"}, not in canary` },
      409,
    );
  return c.json(releaseView(out.release), 200);
});

adminReleases.openapi(rollbackReleaseRoute, async (c) => {
  const body = c.req.valid("json");
  const surface = KIND_TARGET[body.kind].surface;
  if (body.surface !== undefined && body.surface !== surface)
    return invalidRequest(c, `kind ${body.kind} serves ${surface}, not ${body.surface}`, [
      { path: "surface", message: `kind ${body.kind} serves ${surface}`, code: "custom" },
    ]);
  const store = await resolveStoreName(c.env, body.store);
  if (store === undefined) return unknownStore(c, [body.store ?? ""]);
  const startedBy = body.startedBy ?? c.req.header("x-vitrine-actor")?.trim().slice(0, 200) ?? "admin";
  const out = await rollbackProduction(
    c.env.DB,
    { store, kind: body.kind, reason: body.reason, startedBy },
    Date.now(),
  );
  if (!out.ok) return c.json({ error: out.error, message: out.message }, out.httpStatus);
  invalidateExperimentConfig(); // this isolate serves the previous version at once; the others within seconds
  return c.json({ ...releaseView(out.release), from: out.from, to: out.to }, 201);
});
