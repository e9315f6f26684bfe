/**
 * Request-shape limits, all answered as JSON:
 *  - a body larger than MAX_BODY_BYTES (edge/config.ts, default 512 KiB; a catalogue upload, POST
 *    /admin/stores/{store}/products or …/delete-products, CATALOG_MAX_BODY_BYTES, 10 MiB) → 413 `payload_too_large` (hono/body-limit:
 *    Content-Length is checked first, a streamed body is counted as it arrives);
 *  - a known path with a method it does not serve → 405 `method_not_allowed` with `Allow` (hono/method-not-allowed);
 *    unknown paths stay 404 `not_found`.
 */
import type { Hono, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { methodNotAllowed } from "hono/method-not-allowed";
import { config } from "../config";
import type { AppEnv } from "../env";

/** the catalogue's bulk routes: an upload (≤ 10,000 products) and a bulk delete (≤ 10,000 ids) */
const CATALOG_UPLOAD = /^\/admin\/stores\/[^/]+\/(products|delete-products)$/;

export const requestBodyLimit: MiddlewareHandler<AppEnv> = (c, next) => {
  const http = config(c.env).http;
  const maxSize =
    c.req.method === "POST" && CATALOG_UPLOAD.test(c.req.path) ? http.catalogMaxBodyBytes : http.maxBodyBytes;
  return bodyLimit({
    maxSize,
    onError: (c) =>
      c.json(
        {
          error: "payload_too_large",
          message: `request body exceeds ${maxSize} bytes`,
          limit: maxSize,
          requestId: c.get("requestId"),
        },
        413,
      ),
  })(c, next);
};

/** 405 JSON with `Allow` for a wrong method on a route of `app`. */
export function wrongMethod(app: Hono<AppEnv>): MiddlewareHandler<AppEnv> {
  return methodNotAllowed<AppEnv>({
    app,
    onMethodNotAllowed: (c, matched) => {
      const methods = staticFirst(app, c.req.path, matched);
      return c.json(
        {
          error: "method_not_allowed",
          message: `${c.req.method} is not allowed on ${c.req.path} (allowed: ${methods.join(", ")})`,
          allowed: methods,
          requestId: c.get("requestId"),
        },
        405,
        { Allow: methods.join(", ") },
      );
    },
  });
}

/**
 * A path that is itself a declared route (POST /admin/drills/reports) is not also the `{id}` of a parametrised one
 * (GET /admin/drills/{id}): its own methods are the ones allowed, as the API description says.
 */
function staticFirst(app: Hono<AppEnv>, path: string, matched: string[]): string[] {
  const own = new Set(app.routes.filter((r) => r.path === path && r.method !== "ALL").map((r) => r.method));
  if (own.size === 0) return matched;
  if (own.has("GET")) own.add("HEAD");
  return matched.filter((m) => own.has(m));
}
