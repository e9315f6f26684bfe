/**
 * Admin authentication, with Hono's own helpers:
 *  - `Authorization: Bearer <ADMIN_TOKEN>` (hono/bearer-auth: constant-time comparison; a malformed header is a 400,
 *    a wrong token a 401, both JSON);
 *  - else the dashboard's session: a cookie signed with ADMIN_TOKEN as the HMAC key (hono/cookie's signed cookies),
 *    set by POST /dashboard/login; rotating ADMIN_TOKEN invalidates every session.
 * Neither → 401 JSON. With no ADMIN_TOKEN configured the admin surface refuses everyone.
 */
import type { Context, MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import { timingSafeEqual } from "hono/utils/buffer";
import type { AppEnv } from "../env";

export const ADMIN_COOKIE = "vitrine_admin";
/** The signed value of a dashboard session (the signature, not the value, is the secret part). */
const SESSION = "dashboard-session-v2";
const SESSION_S = 12 * 3600;

const unauthorized = { error: "unauthorized", message: "admin bearer token required" };

/** Constant-time check of a token typed into the login form. */
export async function isAdminToken(c: Context<AppEnv>, token: string): Promise<boolean> {
  const expected = c.env.ADMIN_TOKEN;
  return Boolean(expected && token) && (await timingSafeEqual(token, expected!));
}

/** Starts a dashboard session (call after isAdminToken). */
export async function startSession(c: Context<AppEnv>): Promise<void> {
  await setSignedCookie(c, ADMIN_COOKIE, SESSION, c.env.ADMIN_TOKEN!, {
    httpOnly: true,
    sameSite: "Strict",
    path: "/",
    maxAge: SESSION_S,
    secure: new URL(c.req.url).protocol === "https:",
  });
}

export function endSession(c: Context<AppEnv>): void {
  deleteCookie(c, ADMIN_COOKIE, { path: "/" });
}

/** True when the request carries a valid dashboard session cookie. */
export async function hasSession(c: Context<AppEnv>): Promise<boolean> {
  const key = c.env.ADMIN_TOKEN;
  return Boolean(key) && (await getSignedCookie(c, key!, ADMIN_COOKIE)) === SESSION;
}

/** The bearer token or a dashboard session, as a yes/no (the dashboard page shows the login form on no). */
export async function isAdmin(c: Context<AppEnv>): Promise<boolean> {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
  return bearer ? isAdminToken(c, bearer[1]!) : hasSession(c);
}

/** hono/bearer-auth against ADMIN_TOKEN (constant-time), JSON errors. */
const bearer = bearerAuth<AppEnv>({
  verifyToken: (token, c) => isAdminToken(c, token),
  realm: "vitrine-admin",
  invalidToken: { message: unauthorized },
  invalidAuthenticationHeader: {
    message: { error: "invalid_request", message: "Authorization must be `Bearer <token>`" },
  },
  noAuthenticationHeader: { message: unauthorized },
});

/**
 * Guards the admin routes (each admin sub-app mounts it: edge/api/openapi.ts createAdminApi): the bearer token, else a
 * dashboard session. Checked once per request however many admin sub-apps it passes through.
 */
export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.var.admin) return next();
  c.set("admin", true); // set before the check: a refused request never reaches next()
  if (c.env.ADMIN_TOKEN && c.req.header("authorization") !== undefined) return bearer(c, next);
  if (await hasSession(c)) return next();
  c.header("WWW-Authenticate", 'Bearer realm="vitrine-admin"');
  return c.json(unauthorized, 401);
};
