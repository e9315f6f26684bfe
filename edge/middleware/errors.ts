/**
 * Error handling: everything leaves as JSON `{error, message, ...}`.
 * - zod validation failures (from the validator hook or thrown ZodErrors) → 400 with `issues`;
 * - Hono HTTPExceptions (e.g. malformed JSON body) → their status (4xx) with a JSON body;
 * - anything else → 500 `{error: "internal"}` without internals, logged with the request id.
 */
import type { Context, ErrorHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { ZodError, type ZodIssue } from "zod";
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

/** The 400 body for invalid input. */
export function invalidRequest(c: Context<AppEnv>, message: string, issues: ValidationIssue[] = []): Response {
  return c.json({ error: "invalid_request", message, issues, requestId: c.get("requestId") }, 400);
}

/**
 * Hook for @hono/zod-validator (pass it as the third argument): a failed parse becomes our 400 JSON.
 * Typed on the plain Context because the validator's hook is not generic over the app's Env.
 */
export function zodHook(
  result: { success: true } | { success: false; error: ZodError },
  c: Context,
): Response | undefined {
  if (result.success) return undefined;
  const issues = formatIssues(result.error.issues);
  return invalidRequest(c as unknown as Context<AppEnv>, validationMessage(issues), issues);
}

export const onError: ErrorHandler<AppEnv> = (err, c) => {
  const requestId = c.get("requestId");
  if (err instanceof ZodError) {
    const issues = formatIssues(err.issues);
    return invalidRequest(c, validationMessage(issues), issues);
  }
  if (err instanceof HTTPException && err.status < 500) {
    return c.json(
      { error: err.status === 400 ? "invalid_request" : "http_error", message: err.message, issues: [], requestId },
      err.status,
    );
  }
  console.error("unhandled error", requestId, err);
  return c.json({ error: "internal", message: "internal error", requestId }, 500);
};
