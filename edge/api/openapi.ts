/**
 * Routes are declared once, with @hono/zod-openapi: a route's contract (`defineRoute`, i.e. `createRoute` plus the
 * errors every route of its kind can answer) is what validates its input, types its handler and generates the
 * OpenAPI 3.1 document (GET /openapi.json) — there is no second description to keep in step.
 *
 *   export const searchRoute = defineRoute("public", "get", "/search", {
 *     summary: "…", request: { query: searchQuerySchema }, responses: { 200: json("ranked answer", answerSchema) } });
 *   search.openapi(searchRoute, async (c) => { … });          // edge/routes/search.ts
 *
 * `access` adds the standard errors (all: 405; public: 429; admin: 401 and the bearer security scheme; login: 429),
 * a request schema adds 400 (a body also 413), path parameters add 404. Their bodies are the named components below,
 * answered by the middleware (edge/middleware/, edge/api/auth.ts). A failed parse answers our 400 JSON through the
 * apps' default hook (`createApi`), never Hono's default.
 */
import { OpenAPIHono, createRoute, z, type RouteConfig } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { requireAdmin } from "../middleware/admin-auth";
import { formatIssues, validationMessage } from "../middleware/errors";

export { z };

const issueSchema = z.object({ path: z.string(), message: z.string(), code: z.string() });

/** Every error body: `{error, message, …}`; the fields after these depend on the error. */
const errorBody = z.object({
  error: z.string().openapi({ description: "machine-readable error code" }),
  message: z.string(),
  requestId: z.string().optional(),
});

export const errorSchemas = {
  ValidationError: errorBody.extend({ issues: z.array(issueSchema) }).openapi("ValidationError"),
  NotFound: errorBody.extend({ issues: z.array(issueSchema).optional() }).openapi("NotFound"),
  Conflict: errorBody.openapi("Conflict"),
  MethodNotAllowed: errorBody.extend({ allowed: z.array(z.string()) }).openapi("MethodNotAllowed"),
  PayloadTooLarge: errorBody.extend({ limit: z.number().int() }).openapi("PayloadTooLarge"),
  RateLimited: errorBody.extend({ retryAfterS: z.number() }).openapi("RateLimited"),
  Unauthorized: errorBody.openapi("Unauthorized"),
  Unavailable: errorBody.openapi("Unavailable"),
};

/** A JSON response with its description. */
export function json<T extends z.ZodType>(description: string, schema: T) {
  return { description, content: { "application/json": { schema } } };
}

/** A non-JSON response (HTML page, asset) with its media type. */
export function media(description: string, type: string) {
  return { description, content: { [type]: { schema: z.string() } } };
}

/** A redirect (no body). */
export function redirect(description: string) {
  return { description, headers: z.object({ Location: z.string() }) };
}

export type Access = "public" | "admin" | "page" | "login";

/** The errors a route of this access kind and request shape can answer besides its own. */
function standardErrors(access: Access, request: RouteConfig["request"]) {
  const hasInput = Boolean(request?.query || request?.params || request?.body);
  return {
    ...(hasInput ? { 400: json("invalid input: the issues name each field", errorSchemas.ValidationError) } : {}),
    ...(access === "admin" ? { 401: json("no or invalid admin credentials", errorSchemas.Unauthorized) } : {}),
    ...(request?.params ? { 404: json("no such resource", errorSchemas.NotFound) } : {}),
    405: json("another method on this path (Allow lists the served ones)", errorSchemas.MethodNotAllowed),
    ...(request?.body ? { 413: json("body larger than MAX_BODY_BYTES", errorSchemas.PayloadTooLarge) } : {}),
    ...(access === "public" || access === "login"
      ? { 429: json("rate limited: retry after Retry-After seconds", errorSchemas.RateLimited) }
      : {}),
  };
}

/**
 * createRoute for `method path` (the path as mounted in its sub-app, `{id}` for parameters) with the route's access
 * kind: standard errors, tag and security added. The route's own `responses` come last, so a route can describe one
 * of the standard statuses more precisely.
 */
export function defineRoute<
  const M extends RouteConfig["method"],
  const P extends string,
  const R extends Omit<RouteConfig, "method" | "path">,
>(access: Access, method: M, path: P, route: R) {
  return createRoute({
    ...route,
    method,
    path,
    tags: [access === "public" ? "public" : "admin"],
    ...(access === "admin" ? { security: [{ adminBearer: [] }] } : {}),
    responses: { ...standardErrors(access, route.request), ...route.responses },
  });
}

/** A JSON request body (required). */
export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return { required: true, ...(description ? { description } : {}), content: { "application/json": { schema } } };
}

/**
 * The 400 for invalid input (a failed parse or a check of the handler's own), with the issues naming each field.
 * Typed for @hono/zod-openapi's handlers.
 */
export function invalidRequest(c: Context<AppEnv>, message: string, issues: z.infer<typeof issueSchema>[] = []) {
  return c.json({ error: "invalid_request", message, issues, requestId: c.get("requestId") }, 400);
}

/** The 404 for a store that does not exist (a query parameter or a body field at `path`). */
export function unknownStore(c: Context<AppEnv>, names: readonly string[], path = "store") {
  const list = [...new Set(names)];
  const message = `unknown store ${list.map((s) => JSON.stringify(s)).join(", ")}`;
  const issues = list.map((s) => ({ path, message: `unknown store ${JSON.stringify(s)}`, code: "unknown_store" }));
  return c.json({ error: "unknown_store", message, issues, requestId: c.get("requestId") }, 404);
}

/** An app or sub-app whose routes are declared with defineRoute; a failed parse answers our 400 JSON. */
export function createApi() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return undefined;
      const issues = formatIssues(result.error.issues);
      return invalidRequest(c, validationMessage(issues), issues);
    },
  });
}

export type Api = ReturnType<typeof createApi>;

/** A sub-app of admin routes (mounted under /admin): each of its requests needs the admin token or a session. */
export function createAdminApi() {
  const api = createApi();
  api.use("*", requireAdmin);
  return api;
}

/** The OpenAPI 3.1 document of every route mounted on `app`. */
export function openApiDocument(app: Api) {
  app.openAPIRegistry.registerComponent("securitySchemes", "adminBearer", {
    type: "http",
    scheme: "bearer",
    description: "ADMIN_TOKEN (or the dashboard's session cookie)",
  });
  return app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "vitrine edge API",
      version: "1",
      description:
        "Edge search & recommendation serving. Errors are JSON {error, message, requestId, …}. Generated from the routes' own zod contracts (edge/api/).",
    },
  });
}
