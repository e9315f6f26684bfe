/**
 * Error handling: everything leaves as JSON `{error, message, ...}`.
 * - zod validation failures: the routes' default hook (edge/api/openapi.ts) answers 400 with `issues`; a ZodError
 *   thrown anywhere else gets the same 400 here;
 * - Hono HTTPExceptions that carry their own response (e.g. hono/bearer-auth's 401 JSON) → that response; other
 *   HTTPExceptions (e.g. a malformed JSON body) → their status (4xx) with a JSON body;
 * - D1 unavailable on the request path (edge/db/guarded.ts) with nothing cached to serve instead → a fast 503
 *   `{error: "catalog_unavailable"}` with Retry-After (D1_RETRY_AFTER_S), never a 500;
 * - anything else → 500 `{error: "internal"}` without internals, logged with the request id.
 */
import type { ErrorHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { ZodError, type ZodIssue } from "zod";
import { config } from "../config";
import { D1Unavailable } from "../db/guarded";
import type { AppEnv } from "../env";

export interface ValidationIssue {
  path: string;
  message: string;
  code: string;
}

export function formatIssues(issues: readonly ZodIssue[]): ValidationIssue[] {
  return issues.map((i) => ({ path: i.path.join(".") || "(root)", message: i.message, code: i.code }));
}

export function validationMessage(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join("; ");
}

export const onError: ErrorHandler<AppEnv> = (err, c) => {
  const requestId = c.get("requestId");
  if (err instanceof ZodError) {
    const issues = formatIssues(err.issues);
    return c.json({ error: "invalid_request", message: validationMessage(issues), issues, requestId }, 400);
  }
  if (err instanceof HTTPException && err.status < 500) {
    if (err.res) return err.getResponse();
    return c.json(
      { error: err.status === 400 ? "invalid_request" : "http_error", message: err.message, issues: [], requestId },
      err.status,
    );
  }
  if (err instanceof D1Unavailable) {
    console.warn(JSON.stringify({ event: "d1_unavailable", requestId, kind: err.kind, path: c.req.path }));
    c.header("retry-after", String(config(c.env).d1.retryAfterS));
    return c.json({ error: "catalog_unavailable", message: "the catalogue database is unavailable", requestId }, 503);
  }
  console.error("unhandled error", requestId, err);
  return c.json({ error: "internal", message: "internal error", requestId }, 500);
};
