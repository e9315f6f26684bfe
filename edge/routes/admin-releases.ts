/**
 * Model releases, admin side (bearer ADMIN_TOKEN), the edge half of issue #9 (the CLI `npm run release` drives it):
 *  POST /admin/releases             record a refused release, or create the canary in its store's experiment
 *                                   → 201 {id, status}; `store` defaults to the default store, unknown → 404
 *  GET  /admin/releases?limit=      releases, newest first: {releases: [...]}
 *  GET  /admin/releases/:id         one release with its gate report and every decision with its figures
 *  POST /admin/releases/:id/tick    run the step analysis now (the cron's, edge/releases/tick.ts)
 *  POST /admin/releases/:id/abort   {reason}: the canary to 0 % at once, status aborted
 */
import { Hono } from "hono";
import { zValidator } from "@hono/zod-validator";
import { z } from "zod";
import { requireAdmin } from "../admin/auth";
import type { AppEnv } from "../env";
import { zodHook } from "../middleware/errors";
import { RELEASE_KINDS } from "../db/schema-releases";
import { createRelease, getRelease, listReleases, releaseDecisionsOf, releaseView } from "../releases/store";
import { abortRelease, tickRelease } from "../releases/tick";
import { invalidateExperimentConfig } from "../experiments/config";
import { describeRoute, errorSchemas, json } from "../openapi/registry";
import { resolveStore, storeIdSchema, storeSet, unknownStore } from "../stores/resolve";

const token = (what: string) =>
  z
    .string()
    .min(1)
    .max(200)
    .regex(/^[A-Za-z0-9._:+-]+$/, `malformed ${what}`);

export const createReleaseSchema = z
  .object({
    kind: z.enum(RELEASE_KINDS),
    /** the store whose traffic the canary splits (default: the default store); unknown → 404 unknown_store */
    store: storeIdSchema.optional(),
    version: token("version"),
    baselineVersion: token("baselineVersion").optional(),
    steps: z
      .array(z.number().int().min(1).max(100))
      .min(1)
      .max(20)
      .refine((s) => s.every((w, i) => i === 0 || w > s[i - 1]!), "steps must increase"),
    stepSeconds: z.number().int().min(1).max(86_400),
    gateReport: z.record(z.string(), z.unknown()),
    startedBy: z.string().min(1).max(200),
    status: z.literal("refused").optional(),
    reason: z.string().max(2_000).optional(),
  })
  .strict();

const idSchema = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9_-]+$/, "malformed release id"),
});
const listSchema = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) });
const abortSchema = z.object({ reason: z.string().min(1).max(2_000) }).strict();

const notFound = (id: string) => ({ error: "not_found", message: `no release ${id}` });

/** Answers described loosely: CONTRACTS.md C6 has their fields. */
const releaseSchema = z.object({ id: z.string(), status: z.string(), weight: z.number() }).passthrough();
const errorSchema = z.object({ error: z.string(), message: z.string() });
const tickSchema = z
  .object({
    id: z.string(),
    decision: z.string().nullable(),
    status: z.string(),
    stepIndex: z.number(),
    weight: z.number(),
  })
  .passthrough();

describeRoute({
  method: "post",
  path: "/admin/releases",
  access: "admin",
  summary: "Record a refused release, or create a release's canary beside the live variants of its store's surface",
  body: createReleaseSchema,
  responses: {
    201: json("the release", z.object({ id: z.string(), status: z.string() })),
    404: json("the store does not exist (error unknown_store)", errorSchemas.NotFound),
    409: json("another release is in canary on the store's surface", errorSchema),
    422: json("a light version this worker does not bundle", errorSchema),
  },
});
describeRoute({
  method: "get",
  path: "/admin/releases",
  access: "admin",
  summary: "Releases, newest first",
  query: listSchema,
  responses: { 200: json("the releases", z.object({ releases: z.array(releaseSchema) })) },
});
describeRoute({
  method: "get",
  path: "/admin/releases/:id",
  access: "admin",
  summary: "One release with its gate report and every step decision with its figures",
  params: idSchema,
  responses: { 200: json("the release and its decisions", releaseSchema) },
});
describeRoute({
  method: "post",
  path: "/admin/releases/:id/tick",
  access: "admin",
  summary: "Run the release's step analysis now (the cron's) and apply its decision",
  params: idSchema,
  responses: { 200: json("the decision, its figures and the release's state", tickSchema) },
});
describeRoute({
  method: "post",
  path: "/admin/releases/:id/abort",
  access: "admin",
  summary: "Abort a release in canary: the canary to 0 % at once",
  params: idSchema,
  body: abortSchema,
  responses: {
    200: json("the aborted release", releaseSchema),
    409: json("the release is not in canary", errorSchema),
  },
});

export const adminReleases = new Hono<AppEnv>();

adminReleases.use("/releases", requireAdmin);
adminReleases.use("/releases/*", requireAdmin);

adminReleases.post("/releases", zValidator("json", createReleaseSchema, zodHook), async (c) => {
  const body = c.req.valid("json");
  const store = resolveStore(await storeSet(c.env), body.store);
  if (store === undefined) return unknownStore(c, [body.store ?? ""]);
  const out = await createRelease(c.env.DB, { ...body, store }, Date.now());
  if (!out.ok) return c.json({ error: out.error, message: out.message }, out.httpStatus);
  invalidateExperimentConfig(); // this isolate serves the canary at once; the others within CONFIG_VERSION_CHECK_S
  return c.json({ id: out.id, status: out.status }, 201);
});

adminReleases.get("/releases", zValidator("query", listSchema, zodHook), async (c) => {
  const rows = await listReleases(c.env.DB, c.req.valid("query").limit);
  return c.json({ releases: rows.map(releaseView) });
});

adminReleases.get("/releases/:id", zValidator("param", idSchema, zodHook), async (c) => {
  const { id } = c.req.valid("param");
  const r = await getRelease(c.env.DB, id);
  if (!r) return c.json(notFound(id), 404);
  const decisions = (await releaseDecisionsOf(c.env.DB, id)).map((d) => ({
    ...d,
    figures: JSON.parse(d.figures) as unknown,
  }));
  return c.json({ ...releaseView(r), decisions });
});

adminReleases.post("/releases/:id/tick", zValidator("param", idSchema, zodHook), async (c) => {
  const { id } = c.req.valid("param");
  const out = await tickRelease(c.env, id);
  if (!out) return c.json(notFound(id), 404);
  return c.json(out);
});

adminReleases.post(
  "/releases/:id/abort",
  zValidator("param", idSchema, zodHook),
  zValidator("json", abortSchema, zodHook),
  async (c) => {
    const { id } = c.req.valid("param");
    const out = await abortRelease(c.env, id, c.req.valid("json").reason);
    if (!out.found) return c.json(notFound(id), 404);
    if (!out.aborted || !out.release)
      return c.json(
        { error: "not_in_canary", message: `release ${id} is ${out.release?.status ?? "changing"}, not in canary` },
        409,
      );
    return c.json(releaseView(out.release));
  },
);
