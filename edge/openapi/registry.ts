/**
 * The API description (OpenAPI 3.1), generated from the routes' own zod contracts (@asteasolutions/zod-to-openapi),
 * never written by hand. Each route module registers its routes next to its zod schemas with one call:
 *
 *   describeRoute({ method: "get", path: "/v1/search", access: "public", summary: "…",
 *                   query: searchQuerySchema, responses: { 200: json("ranked answer", searchResponseSchema) } });
 *
 * `path` is the Hono path as mounted (`/admin/drills/:id`); `access` adds the errors every route of its kind can
 * answer (all: 405; public: 429; admin: 401; login: 429), a request schema adds 400 (and a body 413), a path
 * parameter adds 404. The shapes of those errors are the components below (the middleware in edge/middleware/ and
 * edge/admin/auth.ts answer them). GET /openapi.json serves openApiDocument(); test/edge/openapi.test.ts fails when a
 * mounted route has no description.
 */
import {
  extendZodWithOpenApi,
  OpenAPIRegistry,
  OpenApiGeneratorV31,
  type ResponseConfig,
  type RouteConfig,
} from "@asteasolutions/zod-to-openapi";
import { z, type AnyZodObject, type ZodType } from "zod";

extendZodWithOpenApi(z);

const registry = new OpenAPIRegistry();

registry.registerComponent("securitySchemes", "adminBearer", {
  type: "http",
  scheme: "bearer",
  description: "ADMIN_TOKEN (or the dashboard's session cookie)",
});

const issueSchema = z.object({ path: z.string(), message: z.string(), code: z.string() });

/** Every error body: `{error, message, …}`; the fields after these depend on the error. */
const errorBody = z.object({
  error: z.string().openapi({ description: "machine-readable error code" }),
  message: z.string(),
  requestId: z.string().optional(),
});

export const errorSchemas = {
  ValidationError: registry.register(
    "ValidationError",
    errorBody.extend({ error: z.string(), issues: z.array(issueSchema) }),
  ),
  NotFound: registry.register("NotFound", errorBody),
  MethodNotAllowed: registry.register("MethodNotAllowed", errorBody.extend({ allowed: z.array(z.string()) })),
  PayloadTooLarge: registry.register("PayloadTooLarge", errorBody.extend({ limit: z.number().int() })),
  RateLimited: registry.register("RateLimited", errorBody.extend({ retryAfterS: z.number() })),
  Unauthorized: registry.register("Unauthorized", errorBody),
};

/** A JSON response with its description. */
export function json(description: string, schema: ZodType): ResponseConfig {
  return { description, content: { "application/json": { schema } } };
}

/** A non-JSON response (HTML page, asset) with its media type. */
export function media(description: string, type: string): ResponseConfig {
  return { description, content: { [type]: { schema: z.string() } } };
}

/** A redirect (no body). */
export function redirect(description: string): ResponseConfig {
  return { description, headers: { Location: { schema: { type: "string" } } } };
}

export type Access = "public" | "admin" | "page" | "login";

export interface RouteDescription {
  method: "get" | "post";
  /** the Hono path as mounted: `/admin/drills/:id` */
  path: string;
  access: Access;
  summary: string;
  description?: string;
  query?: AnyZodObject;
  params?: AnyZodObject;
  /** a JSON body (the zod contract the validator parses) */
  body?: ZodType;
  /** a form body (application/x-www-form-urlencoded) */
  form?: AnyZodObject;
  responses: Record<number, ResponseConfig>;
}

/** Hono's `:id` → OpenAPI's `{id}`. */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function standardErrors(d: RouteDescription): Record<number, ResponseConfig> {
  const out: Record<number, ResponseConfig> = {};
  if (d.query || d.params || d.body || d.form)
    out[400] = json("invalid input: the issues name each field", errorSchemas.ValidationError);
  if (d.access === "admin") out[401] = json("no or invalid admin credentials", errorSchemas.Unauthorized);
  if (d.params) out[404] = json("no such resource", errorSchemas.NotFound);
  out[405] = json("another method on this path (Allow lists the served ones)", errorSchemas.MethodNotAllowed);
  if (d.body || d.form) out[413] = json("body larger than MAX_BODY_BYTES", errorSchemas.PayloadTooLarge);
  if (d.access === "public" || d.access === "login")
    out[429] = json("rate limited: retry after Retry-After seconds", errorSchemas.RateLimited);
  return out;
}

/** Registers one route's description (call it next to the route's zod contract). */
export function describeRoute(d: RouteDescription): void {
  const request: NonNullable<RouteConfig["request"]> = {};
  if (d.query) request.query = d.query;
  if (d.params) request.params = d.params;
  if (d.body) request.body = { required: true, content: { "application/json": { schema: d.body } } };
  if (d.form) request.body = { required: true, content: { "application/x-www-form-urlencoded": { schema: d.form } } };
  registry.registerPath({
    method: d.method,
    path: openApiPath(d.path),
    summary: d.summary,
    ...(d.description ? { description: d.description } : {}),
    tags: [d.access === "public" ? "public" : "admin"],
    ...(d.access === "admin" ? { security: [{ adminBearer: [] }] } : {}),
    request,
    responses: { ...standardErrors(d), ...d.responses },
  });
}

/** The OpenAPI 3.1 document of every registered route. */
export function openApiDocument(): ReturnType<OpenApiGeneratorV31["generateDocument"]> {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: {
      title: "vitrine edge API",
      version: "1",
      description:
        "Edge search & recommendation serving. Errors are JSON {error, message, requestId, …}. Generated from the zod contracts of edge/routes/.",
    },
  });
}
