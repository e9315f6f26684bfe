/**
 * A/B experiments, admin side (bearer ADMIN_TOKEN or the dashboard session) — the HTTP contract (handlers:
 * edge/routes/admin-experiments.ts, rules: edge/experiments/admin.ts):
 *  POST  /admin/experiments                create an experiment for a store's surface with its variants
 *  GET   /admin/experiments?store=&surface=&active=   experiments with per-variant CTR / conversion (95 % Wilson)
 *  PATCH /admin/experiments/{id}           reweight its variants, or end it ({"active": false})
 *  GET   /admin/experiments/{id}/changes   its audit trail: every change with actor, time, before and after
 * The actor of a change is the request's `x-vitrine-actor` header (default "admin").
 */
import { SURFACES } from "../experiments/config";
import { defineRoute, errorSchemas, json, jsonBody, z } from "./openapi";
import { limit, storeId, versionToken } from "./params";

/** The audit label of whoever makes a change. */
export const actorHeader = z.object({
  "x-vitrine-actor": z
    .string()
    .trim()
    .min(1, "x-vitrine-actor must not be empty")
    .max(200, "x-vitrine-actor must be at most 200 characters")
    .optional()
    .openapi({ description: "who makes the change, recorded in its audit row (default: admin)" }),
});

const variantName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._-]+$/, "a variant name is letters, digits, '.', '_' and '-'");
/** a positive weight: a variant's share is its weight over the sum of the experiment's weights */
const weight = z.number().positive("weight must be positive").max(1_000_000).finite();
const modelOrDefault = (what: string) =>
  z
    .union([z.literal(""), versionToken(what)])
    .optional()
    .openapi({ description: `${what} ("" or absent: the surface's bundled default)` });

export const variantSpecSchema = z
  .object({
    name: variantName,
    weight,
    lightModel: modelOrDefault("lightModel"),
    heavyModel: modelOrDefault("heavyModel"),
    /** SageMaker production variant to pin ("" or absent: let the endpoint route) */
    gpuTargetVariant: z
      .union([z.literal(""), z.string().regex(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/, "not a SageMaker variant name")])
      .optional(),
    /** the cascade size sent to the GPU tier (absent: LIGHT_TOP_M / RECS_TOP_M) */
    topM: z.number().int().min(1).max(300).optional(),
  })
  .strict();

const experimentIdValue = z
  .string()
  .min(1)
  .max(160)
  .regex(/^[A-Za-z0-9._:-]+$/, "malformed experiment id");

export const createExperimentSchema = z
  .object({
    store: storeId.optional(),
    surface: z.enum(SURFACES),
    /** absent: `<store>:<surface>-exp-<time>-<random>` */
    id: experimentIdValue.optional(),
    variants: z
      .array(variantSpecSchema)
      .min(1)
      .max(20)
      .refine((vs) => new Set(vs.map((v) => v.name)).size === vs.length, "variant names must be unique"),
    reason: z.string().max(2_000).optional(),
  })
  .strict();

export const patchExperimentSchema = z
  .object({
    weights: z.record(variantName, weight).optional(),
    active: z.literal(false).optional(),
    reason: z.string().max(2_000).optional(),
  })
  .strict()
  .refine((p) => p.weights !== undefined || p.active !== undefined, 'name new weights or {"active": false}');

const experimentId = z.object({
  id: experimentIdValue.openapi({ param: { name: "id", in: "path" } }),
});

const rateFigureSchema = z.object({
  k: z.number(),
  n: z.number(),
  rate: z.number().nullable(),
  // [low, high] (an array of two: OpenAPI 3.1 tuples would need prefixItems, which the generator does not emit)
  ci: z.array(z.number().nullable()).length(2),
  unsupported: z.string().optional(),
});

const experimentSchema = z
  .object({
    id: z.string(),
    store: z.string(),
    surface: z.string(),
    active: z.boolean(),
    updatedAt: z.number(),
    variants: z.array(z.object({ name: z.string(), weight: z.number() }).passthrough()),
  })
  .passthrough();

const experimentWithFigures = experimentSchema.extend({
  window: z.object({ from: z.number(), to: z.number() }),
  figures: z.record(
    z.string(),
    z.object({
      requests: z.number(),
      impressions: z.number(),
      clicks: z.number(),
      purchases: z.number(),
      ctr: rateFigureSchema,
      conversion: rateFigureSchema,
    }),
  ),
});

const refusals = {
  404: json("the store or the experiment does not exist", errorSchemas.NotFound),
  409: json(
    "another experiment is active on the store's surface (experiment_active), a release's canary runs there " +
      "(release_in_progress), the experiment has ended (experiment_ended) or changed meanwhile (concurrent_change)",
    errorSchemas.Conflict,
  ),
  422: json(
    "a variant names a model this edge cannot serve (unknown_model), no such variant (unknown_variant), or a " +
      "release's canary variant (canary_variant)",
    errorSchemas.Conflict,
  ),
};

export const createExperimentRoute = defineRoute("admin", "post", "/experiments", {
  summary: "Create an A/B experiment for a store's surface (one active per store and surface)",
  request: { headers: actorHeader, body: jsonBody(createExperimentSchema) },
  responses: { 201: json("the experiment", experimentSchema), ...refusals },
});

export const listExperimentsRoute = defineRoute("admin", "get", "/experiments", {
  summary: "Experiments (active first) with per-variant requests, CTR and conversion with 95% Wilson intervals",
  request: {
    query: z.object({
      store: storeId.optional(),
      surface: z.enum(SURFACES).optional(),
      active: z.enum(["true", "false"]).optional(),
      limit: limit(100, 20),
    }),
  },
  responses: {
    200: json("the experiments", z.object({ experiments: z.array(experimentWithFigures) })),
    404: json("the store does not exist", errorSchemas.NotFound),
  },
});

export const patchExperimentRoute = defineRoute("admin", "patch", "/experiments/{id}", {
  summary: "Reweight an experiment's variants, or end it",
  request: { params: experimentId, headers: actorHeader, body: jsonBody(patchExperimentSchema) },
  responses: { 200: json("the experiment after the change", experimentSchema), ...refusals },
});

export const experimentChangesRoute = defineRoute("admin", "get", "/experiments/{id}/changes", {
  summary: "An experiment's audit trail, oldest first: action, actor, time, the experiment before and after",
  request: { params: experimentId },
  responses: {
    200: json(
      "the changes",
      z.object({
        changes: z.array(
          z.object({
            action: z.string(),
            actor: z.string(),
            at: z.number(),
            reason: z.string().nullable(),
            before: z.unknown(),
            after: z.unknown(),
          }),
        ),
      }),
    ),
  },
});
