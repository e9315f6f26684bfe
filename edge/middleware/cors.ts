/**
 * CORS for storefront pages that call the public API (/v1/*) from the browser: only the origins listed in
 * ALLOWED_ORIGINS (edge/config.ts) get `Access-Control-Allow-Origin`; preflights (OPTIONS) are answered here with
 * 204. No credentials: a storefront passes its shopper id as `user`. Mounted on /v1/* only — the admin API and the
 * dashboard never answer cross-origin requests.
 */
import { cors } from "hono/cors";
import { config } from "../config";
import type { AppEnv, Bindings } from "../env";
import type { MiddlewareHandler } from "hono";

export const storefrontCors: MiddlewareHandler<AppEnv> = cors({
  origin: (origin, c) => (origin && config(c.env as Bindings).http.allowedOrigins.includes(origin) ? origin : null),
  allowMethods: ["GET", "HEAD", "POST", "OPTIONS"],
  allowHeaders: ["Content-Type", "X-Request-Id"],
  exposeHeaders: ["X-Request-Id", "X-Vitrine-Cache", "Server-Timing", "Retry-After"],
  maxAge: 600,
});
