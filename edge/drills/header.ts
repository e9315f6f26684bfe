/**
 * The signed drill header. Only the drill runner (which holds DRILL_SECRET) can mint one:
 *
 *   X-Vitrine-Drill: v1.<base64url(JSON payload)>.<base64url(HMAC-SHA256(DRILL_SECRET, "v1." + payload))>
 *   payload = { run, scenario, fault, ts (ms epoch), nonce }
 *
 * A header is honoured only when the signature verifies, the timestamp is within DRILL_HEADER_TTL_MS of now, and
 * the nonce was never seen before (D1 `drill_nonces`, primary key; strongly consistent across isolates).
 * Anything else — no secret configured, unsigned, badly signed, expired, replayed, malformed — means "no drill":
 * the request is served as ordinary traffic with no fault injected.
 */
import { z } from "zod";
import type { Bindings } from "../env";
import { type DrillContext, type FaultSpec, type ScenarioId, faultSpecSchema, scenarioSchema } from "./context";

export const DRILL_HEADER = "X-Vitrine-Drill";
export const DRILL_HEADER_TTL_MS = 30_000;
/** tolerated clock skew for a timestamp in the future */
const FUTURE_SKEW_MS = 5_000;

const payloadSchema = z
  .object({
    run: z.string().min(1).max(64),
    scenario: scenarioSchema,
    fault: faultSpecSchema,
    ts: z.number().int().positive(),
    nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  })
  .strict();
type Payload = z.infer<typeof payloadSchema>;

export type DrillHeaderCheck =
  | { ok: true; drill: DrillContext }
  | { ok: false; reason: "absent" | "no_secret" | "malformed" | "bad_signature" | "expired" | "replayed" };

const encoder = new TextEncoder();

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64url(s: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return undefined;
  try {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

async function hmacKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

export function newNonce(): string {
  return b64url(crypto.getRandomValues(new Uint8Array(18)));
}

/** Mints a header value (drill runner only). */
export async function signDrillHeader(
  secret: string,
  p: { run: string; scenario: ScenarioId; fault: FaultSpec; ts?: number; nonce?: string },
): Promise<string> {
  const payload: Payload = {
    run: p.run,
    scenario: p.scenario,
    fault: p.fault,
    ts: p.ts ?? Date.now(),
    nonce: p.nonce ?? newNonce(),
  };
  const body = `v1.${b64url(encoder.encode(JSON.stringify(payload)))}`;
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(body)));
  return `${body}.${b64url(sig)}`;
}

/**
 * Claims a nonce once. D1 primary key + INSERT OR IGNORE: a second claim changes no row.
 * Expired nonces are pruned opportunistically (they can no longer verify anyway).
 */
async function claimNonce(db: D1Database, nonce: string, expiresAt: number): Promise<boolean> {
  const res = await db
    .prepare("INSERT OR IGNORE INTO drill_nonces (nonce, expires_at) VALUES (?1, ?2)")
    .bind(nonce, expiresAt)
    .run();
  return (res.meta.changes ?? 0) === 1;
}

export async function pruneNonces(db: D1Database, now = Date.now()): Promise<void> {
  await db.prepare("DELETE FROM drill_nonces WHERE expires_at < ?1").bind(now).run();
}

/**
 * Signature and freshness of a header value, without claiming its nonce (so the request path can still claim it).
 * The rate limiter (edge/middleware/rate-limit.ts) exempts such requests; only verifyDrillHeader makes a probe.
 */
export async function signedDrillHeader(
  env: Pick<Bindings, "DRILL_SECRET">,
  value: string | null | undefined,
  now = Date.now(),
): Promise<{ ok: true; payload: Payload } | Extract<DrillHeaderCheck, { ok: false }>> {
  if (!value) return { ok: false, reason: "absent" };
  if (!env.DRILL_SECRET) return { ok: false, reason: "no_secret" };
  const parts = value.split(".");
  if (parts.length !== 3 || parts[0] !== "v1" || !parts[1] || !parts[2]) return { ok: false, reason: "malformed" };
  const sig = fromB64url(parts[2]);
  const raw = fromB64url(parts[1]);
  if (!sig || !raw) return { ok: false, reason: "malformed" };
  const signedOk = await crypto.subtle.verify(
    "HMAC",
    await hmacKey(env.DRILL_SECRET),
    sig,
    encoder.encode(`v1.${parts[1]}`),
  );
  if (!signedOk) return { ok: false, reason: "bad_signature" };
  let parsed: z.SafeParseReturnType<unknown, Payload>;
  try {
    parsed = payloadSchema.safeParse(JSON.parse(new TextDecoder().decode(raw)));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  if (!parsed.success) return { ok: false, reason: "malformed" };
  const p = parsed.data;
  if (p.ts > now + FUTURE_SKEW_MS || now - p.ts > DRILL_HEADER_TTL_MS) return { ok: false, reason: "expired" };
  return { ok: true, payload: p };
}

/** Verifies a header value (signature, freshness, then claims the nonce once); never throws. */
export async function verifyDrillHeader(
  env: Pick<Bindings, "DRILL_SECRET" | "DB">,
  value: string | null | undefined,
  now = Date.now(),
): Promise<DrillHeaderCheck> {
  const signed = await signedDrillHeader(env, value, now);
  if (!signed.ok) return signed;
  const p = signed.payload;
  try {
    if (!(await claimNonce(env.DB, p.nonce, p.ts + DRILL_HEADER_TTL_MS + FUTURE_SKEW_MS))) {
      return { ok: false, reason: "replayed" };
    }
  } catch (err) {
    // fail closed: without replay protection the header is not honoured
    console.warn("drill nonce store unavailable", String(err));
    return { ok: false, reason: "replayed" };
  }
  return { ok: true, drill: { id: p.run, scenario: p.scenario, nonce: p.nonce, faults: p.fault } };
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
