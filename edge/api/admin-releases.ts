/**
 * Model releases, admin side (bearer ADMIN_TOKEN) — the HTTP contract of the edge half of releases (handlers:
 * edge/routes/admin-releases.ts; the CLI `npm run release` drives it; answers: CONTRACTS.md C6):
 *  POST /admin/releases             record a refused release, or create the canary in its store's experiment
 *  GET  /admin/releases?limit=      releases, newest first
 *  GET  /admin/releases/{id}        one release with its gate report and every decision with its figures
 *  POST /admin/releases/{id}/tick   run the step analysis now (the cron's, edge/releases/tick.ts)
 *  POST /admin/releases/{id}/abort  {reason}: the canary to 0 % at once, status aborted
 *  POST /admin/releases/rollback    {store, kind, reason}: the previous production version back at once (a release)
 */
import { RELEASE_KINDS } from "../db/schema-releases";
import { SURFACES } from "../experiments/config";
import { defineRoute, errorSchemas, json, jsonBody, z } from "./openapi";
import { limit, resourceId, storeId, versionToken } from "./params";

export const createReleaseSchema = z
  .object({
    kind: z.enum(RELEASE_KINDS),
    /** the store whose traffic the canary splits (default: the default store); unknown → 404 unknown_store */
    store: storeId.optional(),
    version: versionToken("version"),
    baselineVersion: versionToken("baselineVersion").optional(),
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

const releaseSchema = z.object({ id: z.string(), status: z.string(), weight: z.number() }).passthrough();
const releaseId = resourceId("release");

export const createReleaseRoute = defineRoute("admin", "post", "/releases", {
  summary: "Record a refused release, or create a release's canary beside the live variants of its store's surface",
  request: { body: jsonBody(createReleaseSchema) },
  responses: {
    201: json("the release", z.object({ id: z.string(), status: z.string() })),
    404: json("the store does not exist (error unknown_store)", errorSchemas.NotFound),
    409: json("another release is in canary on the store's surface", errorSchemas.Conflict),
    422: json("a light version this worker does not bundle", errorSchemas.Conflict),
  },
});

export const listReleasesRoute = defineRoute("admin", "get", "/releases", {
  summary: "Releases, newest first",
  request: { query: z.object({ limit: limit(500, 50) }) },
  responses: { 200: json("the releases", z.object({ releases: z.array(releaseSchema) })) },
});

export const getReleaseRoute = defineRoute("admin", "get", "/releases/{id}", {
  summary: "One release with its gate report and every step decision with its figures",
  request: { params: releaseId },
  responses: { 200: json("the release and its decisions", releaseSchema) },
});

export const tickReleaseRoute = defineRoute("admin", "post", "/releases/{id}/tick", {
  summary: "Run the release's step analysis now (the cron's) and apply its decision",
  request: { params: releaseId },
  responses: {
    200: json(
      "the decision, its figures and the release's state",
      z
        .object({
          id: z.string(),
          decision: z.string().nullable(),
          status: z.string(),
          stepIndex: z.number(),
          weight: z.number(),
        })
        .passthrough(),
    ),
  },
});

export const abortReleaseRoute = defineRoute("admin", "post", "/releases/{id}/abort", {
  summary: "Abort a release in canary: the canary to 0 % at once",
  request: { params: releaseId, body: jsonBody(z.object({ reason: z.string().min(1).max(2_000) }).strict()) },
  responses: {
    200: json("the aborted release", releaseSchema),
    409: json("the release is not in canary (error not_in_canary)", errorSchemas.Conflict),
  },
});

export const rollbackReleaseSchema = z
  .object({
    store: storeId.optional(),
    kind: z.enum(RELEASE_KINDS),
    /** optional check: the surface the kind serves (search: light, heavy; recommend: recs-light, recs-heavy) */
    surface: z.enum(SURFACES).optional(),
    reason: z.string().trim().min(1).max(1_000),
    /** who asked (default: the x-vitrine-actor header, else "admin") */
    startedBy: z.string().min(1).max(200).optional(),
  })
  .strict();

export const rollbackReleaseRoute = defineRoute("admin", "post", "/releases/rollback", {
  summary: "Put the previous production version of a kind back on a store's surface at once, recorded as a release",
  request: { body: jsonBody(rollbackReleaseSchema) },
  responses: {
    201: json(
      "the rollback release (status promoted) and the versions it switched",
      releaseSchema.extend({ from: z.string(), to: z.string() }),
    ),
    404: json("the store does not exist (error unknown_store)", errorSchemas.NotFound),
    409: json(
      "no previous production version (no_previous_version), a canary runs on the surface (release_in_progress), or " +
        "the active experiment no longer serves the production version (not_serving)",
      errorSchemas.Conflict,
    ),
    422: json("the previous light version is not bundled in this worker", errorSchemas.Conflict),
  },
});
