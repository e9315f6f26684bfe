/**
 * Request id: reuse a well-formed incoming `x-request-id` (so callers can correlate), otherwise mint a UUID.
 * Echoed on the response and available to handlers as c.var.requestId.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";

const WELL_FORMED = /^[A-Za-z0-9._:-]{8,64}$/;

export const requestId: MiddlewareHandler<AppEnv> = async (c, next) => {
  const incoming = c.req.header("x-request-id");
  const id = incoming && WELL_FORMED.test(incoming) ? incoming : crypto.randomUUID();
  c.set("requestId", id);
  await next();
  c.res.headers.set("x-request-id", id);
};
