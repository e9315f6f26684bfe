/**
 * Admin authentication: `Authorization: Bearer <ADMIN_TOKEN>` (constant-time comparison) or the
 * `vitrine_admin` cookie the dashboard login form sets. No/invalid credentials → 401 JSON.
 */
import type { MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { AppEnv } from "../env";

export const ADMIN_COOKIE = "vitrine_admin";

const encoder = new TextEncoder();

/**
 * Constant-time string equality: both sides are hashed to fixed-length SHA-256 digests (so the length of the
 * secret does not leak) and compared with an XOR accumulator that always visits every byte.
 */
export async function tokensEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * The dashboard cookie holds HMAC-SHA256(ADMIN_TOKEN, "vitrine-dashboard-session-v1") (base64url), never the
 * token itself; rotating ADMIN_TOKEN invalidates every session.
 */
export async function sessionValue(adminToken: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(adminToken),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode("vitrine-dashboard-session-v1")));
  return btoa(String.fromCharCode(...mac))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

function bearer(authorization: string | undefined): string | undefined {
  const m = authorization ? /^Bearer\s+(.+)$/i.exec(authorization.trim()) : null;
  return m?.[1]?.trim() || undefined;
}

/** True when the request carries the admin bearer token or a valid dashboard session cookie. */
export async function isAdmin(
  expected: string | undefined,
  authorization: string | undefined,
  cookie: string | undefined,
): Promise<boolean> {
  if (!expected) return false;
  const token = bearer(authorization);
  if (token) return tokensEqual(token, expected);
  if (cookie) return tokensEqual(cookie, await sessionValue(expected));
  return false;
}

/** Hono middleware guarding /admin/* (and the dashboard data). */
export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!(await isAdmin(c.env.ADMIN_TOKEN, c.req.header("authorization"), getCookie(c, ADMIN_COOKIE)))) {
    c.header("WWW-Authenticate", 'Bearer realm="vitrine-admin"');
    return c.json({ error: "unauthorized", message: "admin bearer token required" }, 401);
  }
  await next();
};
