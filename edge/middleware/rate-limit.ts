/**
 * Per-client rate limits with the Workers rate-limiting binding ([[ratelimits]] in wrangler.toml; in memory under
 * `wrangler dev` and vitest-pool-workers, per colo in production):
 *  - the public API (/v1/*): API_RATE_LIMITER per client — the caller's `user` (query, or a JSON body's `user`),
 *    else the `vitrine_uid` cookie, else the IP (`CF-Connecting-IP`). Requests the app exempts (a signed, fresh drill
 *    header: edge/drills/middleware.ts) are never counted: drill probes must never be throttled;
 *  - admin login attempts (POST /dashboard/login): LOGIN_RATE_LIMITER per IP, every attempt counted.
 * A refused request answers 429 JSON `rate_limited` with `Retry-After` (the binding's period). A limiter that errors
 * lets the request through (logged): an outage of the limiter must not take the API down. RATE_LIMITS = "off"
 * (edge/config.ts) disables both, e.g. for a local chaos run from one client.
 */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { config } from "../config";
import type { AppEnv, Bindings } from "../env";
import { UID_COOKIE, UID_FORMAT } from "../experiments/assign";

/** The `period` (seconds) of each [[ratelimits]] binding in wrangler.toml: the Retry-After of its 429. */
export const RATE_LIMIT_PERIODS_S = { API_RATE_LIMITER: 10, LOGIN_RATE_LIMITER: 60 } as const;
export type Limiter = keyof typeof RATE_LIMIT_PERIODS_S;

const MAX_USER = 128;

export function clientIp(c: Context<AppEnv>): string {
  return c.req.header("cf-connecting-ip")?.trim() || "unknown";
}

/** The caller's `user`: the query parameter, else a JSON body's `user` (read once; the validator reuses it). */
async function userOf(c: Context<AppEnv>): Promise<string | undefined> {
  const fromQuery = c.req.query("user")?.trim();
  if (fromQuery) return fromQuery.slice(0, MAX_USER);
  if (c.req.method !== "POST" || !/^application\/json\b/i.test(c.req.header("content-type") ?? "")) return undefined;
  try {
    const body = await c.req.json<unknown>();
    const user = body && typeof body === "object" && "user" in body ? body.user : undefined;
    return typeof user === "string" && user.trim() ? user.trim().slice(0, MAX_USER) : undefined;
  } catch {
    return undefined; // malformed JSON: keyed by cookie/IP, the validator answers 400
  }
}

/** The rate-limit key of a public API request: `user:…`, `uid:…` or `ip:…`. */
export async function clientKey(c: Context<AppEnv>): Promise<string> {
  const user = await userOf(c);
  if (user) return `user:${user}`;
  const uid = getCookie(c, UID_COOKIE);
  if (uid && UID_FORMAT.test(uid)) return `uid:${uid}`;
  return `ip:${clientIp(c)}`;
}

/** Spends one unit of `limiter` for `key`: true when the request may proceed. */
export async function withinLimit(env: Bindings, limiter: Limiter, key: string): Promise<boolean> {
  if (!config(env).http.rateLimits) return true;
  try {
    return (await env[limiter].limit({ key })).success;
  } catch (err) {
    console.warn(JSON.stringify({ event: "rate_limiter_error", limiter, error: String(err) }));
    return true;
  }
}

function tooManyRequests(c: Context<AppEnv>, limiter: Limiter, message: string): Response {
  const retryAfterS = RATE_LIMIT_PERIODS_S[limiter];
  return c.json({ error: "rate_limited", message, retryAfterS, requestId: c.get("requestId") }, 429, {
    "Retry-After": String(retryAfterS),
  });
}

/** The public API's limit; `exempt` requests (signed drill probes, wired by edge/app.ts) are never counted. */
export const apiRateLimit =
  (exempt: (c: Context<AppEnv>) => Promise<boolean>): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    if (await exempt(c)) return next();
    if (!(await withinLimit(c.env, "API_RATE_LIMITER", await clientKey(c))))
      return tooManyRequests(
        c,
        "API_RATE_LIMITER",
        "too many requests from this client: retry after Retry-After seconds",
      );
    return next();
  };

export const loginRateLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!(await withinLimit(c.env, "LOGIN_RATE_LIMITER", `ip:${clientIp(c)}`)))
    return tooManyRequests(
      c,
      "LOGIN_RATE_LIMITER",
      "too many login attempts from this address: retry after Retry-After seconds",
    );
  return next();
};
