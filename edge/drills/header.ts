/**
 * The signed drill header: a compact JWT (HS256, hono/jwt) that only holders of DRILL_SECRET can mint — the drill
 * runner, and the release CLI for the GPU tier's POST /faults (gpu-tier/vitrine_gpu/server/model_admin.py verifies
 * the same format with PyJWT):
 *
 *   X-Vitrine-Drill: <JWT>   claims { run, scenario, fault, nonce, iat, exp = iat + 30 } (seconds)
 *
 * A header is honoured only when the signature verifies, it has not expired (`exp`; an `iat` more than a few seconds
 * ahead also counts as expired) and its nonce was never seen before (D1 `drill_nonces`, primary key; strongly
 * consistent across isolates). Anything else — no secret configured, unsigned, badly signed, expired, replayed,
 * malformed — means "no drill": the request is served as ordinary traffic with no fault injected.
 */
import { sign, verify } from "hono/jwt";
import { JwtTokenSignatureMismatched } from "hono/utils/jwt/types";
import { z } from "zod";
import type { Bindings } from "../env";
import { type DrillContext, type FaultSpec, type ScenarioId, faultSpecSchema, scenarioSchema } from "./context";

export const DRILL_HEADER = "X-Vitrine-Drill";
export const DRILL_HEADER_TTL_S = 30;
/** tolerated clock skew for an `iat` in the future */
const FUTURE_SKEW_S = 5;

const claimsSchema = z.object({
  run: z.string().min(1).max(64),
  scenario: scenarioSchema,
  fault: faultSpecSchema,
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  iat: z.number().int().positive(),
  exp: z.number().int().positive(),
});
type Claims = z.infer<typeof claimsSchema>;

export type DrillHeaderCheck =
  | { ok: true; drill: DrillContext }
  | { ok: false; reason: "absent" | "no_secret" | "malformed" | "bad_signature" | "expired" | "replayed" };

export function newNonce(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(18)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Mints a header value (drill runner only). `ts` (ms epoch, default now) sets `iat`. */
export async function signDrillHeader(
  secret: string,
  p: { run: string; scenario: ScenarioId; fault: FaultSpec; ts?: number; nonce?: string },
): Promise<string> {
  const iat = Math.floor((p.ts ?? Date.now()) / 1000);
  const claims: Claims = {
    run: p.run,
    scenario: p.scenario,
    fault: p.fault,
    nonce: p.nonce ?? newNonce(),
    iat,
    exp: iat + DRILL_HEADER_TTL_S,
  };
  return sign(claims, secret, "HS256");
}

/**
 * Claims a nonce once. D1 primary key + INSERT OR IGNORE: a second claim changes no row.
 * Expired nonces are pruned by the drill runner (they can no longer verify anyway).
 */
async function claimNonce(db: D1Database, nonce: string, expiresAtMs: number): Promise<boolean> {
  const res = await db
    .prepare("INSERT OR IGNORE INTO drill_nonces (nonce, expires_at) VALUES (?1, ?2)")
    .bind(nonce, expiresAtMs)
    .run();
  return (res.meta.changes ?? 0) === 1;
}

export async function pruneNonces(db: D1Database, now = Date.now()): Promise<void> {
  await db.prepare("DELETE FROM drill_nonces WHERE expires_at < ?1").bind(now).run();
}

/**
 * Signature, expiry and shape of a header value, without claiming its nonce (no I/O): what the rate limiter's
 * exemption reads (edge/drills/middleware.ts); only verifyDrillHeader makes a probe.
 */
export async function signedDrillHeader(
  env: Pick<Bindings, "DRILL_SECRET">,
  value: string | null | undefined,
  now = Date.now(),
): Promise<{ ok: true; claims: Claims } | Extract<DrillHeaderCheck, { ok: false }>> {
  if (!value) return { ok: false, reason: "absent" };
  if (!env.DRILL_SECRET) return { ok: false, reason: "no_secret" };
  let payload: unknown;
  try {
    // times are checked below against `now`, one clock for both ends
    payload = await verify(value, env.DRILL_SECRET, { alg: "HS256", iat: false, exp: false, nbf: false });
  } catch (err) {
    if (err instanceof JwtTokenSignatureMismatched) return { ok: false, reason: "bad_signature" };
    return { ok: false, reason: "malformed" };
  }
  const parsed = claimsSchema.safeParse(payload);
  if (!parsed.success) return { ok: false, reason: "malformed" };
  const { iat, exp } = parsed.data;
  if (exp - iat > DRILL_HEADER_TTL_S) return { ok: false, reason: "malformed" }; // a longer-lived header: not ours
  const nowS = Math.floor(now / 1000);
  if (exp <= nowS || iat > nowS + FUTURE_SKEW_S) return { ok: false, reason: "expired" };
  return { ok: true, claims: parsed.data };
}

/** Verifies a header value (signature, freshness, then claims the nonce once); never throws. */
export async function verifyDrillHeader(
  env: Pick<Bindings, "DRILL_SECRET" | "DB">,
  value: string | null | undefined,
  now = Date.now(),
): Promise<DrillHeaderCheck> {
  const checked = await signedDrillHeader(env, value, now);
  if (!checked.ok) return checked;
  const c = checked.claims;
  try {
    if (!(await claimNonce(env.DB, c.nonce, (c.exp + FUTURE_SKEW_S) * 1000))) return { ok: false, reason: "replayed" };
  } catch (err) {
    // fail closed: without replay protection the header is not honoured
    console.warn("drill nonce store unavailable", String(err));
    return { ok: false, reason: "replayed" };
  }
  return { ok: true, drill: { id: c.run, scenario: c.scenario, nonce: c.nonce, faults: c.fault } };
}

/** The request path's entry point: the DrillContext of a request, or undefined for everything else. */
export async function drillContextOf(
  env: Pick<Bindings, "DRILL_SECRET" | "DB">,
  request: Request,
): Promise<DrillContext | undefined> {
  const value = request.headers.get(DRILL_HEADER);
  if (!value) return undefined;
  const check = await verifyDrillHeader(env, value);
  if (!check.ok) {
    console.warn(JSON.stringify({ event: "drill_header_rejected", reason: check.reason }));
    return undefined;
  }
  return check.drill;
}
