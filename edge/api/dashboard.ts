/** The monitoring dashboard's pages and assets — the HTTP contract (handlers: edge/routes/dashboard.tsx). */
import { storeId } from "./params";
import { defineRoute, media, redirect, z } from "./openapi";

/** `schema`, but a value it refuses becomes `fallback`: a page link never answers 400. */
const orDefault = <T extends z.ZodTypeAny>(schema: T, fallback: z.output<T>) =>
  z.preprocess((v) => {
    const parsed = schema.safeParse(v);
    return parsed.success ? parsed.data : fallback;
  }, schema);

export const pageQuery = z.object({
  range: orDefault(
    z.coerce
      .number()
      .int()
      .min(600)
      .max(7 * 86_400),
    3600,
  ).openapi({ description: "seconds, 600–604800 (default 3600)" }),
  step: orDefault(
    z.coerce
      .number()
      .int()
      .min(60)
      .max(86_400)
      .refine((s) => s % 60 === 0),
    60,
  ).openapi({ description: "seconds, 60–86400, a multiple of 60 (default 60)" }),
  /** the store the charts show (a stores id); absent, malformed or unknown → every store */
  store: orDefault(storeId.optional(), undefined),
});

export const dashboardRoute = defineRoute("page", "get", "/dashboard", {
  summary: "The monitoring dashboard (HTML; the login form without a session)",
  description: "`store`: the charts, variant table and summary of one store (none = every store).",
  request: { query: pageQuery },
  responses: { 200: media("the dashboard or the login page", "text/html") },
});

export const assetRoute = (file: string, type: string, description: string) =>
  defineRoute("page", "get", `/dashboard/assets/${file}`, {
    summary: "Dashboard asset",
    responses: { 200: media(description, type) },
  });

export const loginRoute = defineRoute("login", "post", "/dashboard/login", {
  summary: "Dashboard login with the admin token (sets the session cookie); limited per IP",
  request: {
    body: {
      required: true,
      content: {
        "application/x-www-form-urlencoded": { schema: z.object({ token: z.string() }) },
        "multipart/form-data": { schema: z.object({ token: z.string() }) },
      },
    },
  },
  responses: {
    303: redirect("logged in: to /dashboard"),
    401: media("invalid token: the login page again", "text/html"),
  },
});

export const logoutRoute = defineRoute("page", "post", "/dashboard/logout", {
  summary: "Dashboard logout (clears the session cookie)",
  responses: { 303: redirect("to /dashboard") },
});
