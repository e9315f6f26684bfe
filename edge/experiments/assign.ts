/**
 * Sticky variant assignment: SHA-256(salt ":" unit id) → a point in [0, 1) → the variant whose cumulative weight
 * range holds it. The unit id is the caller's `user` parameter or the anonymous `vitrine_uid` cookie the edge sets.
 * Same unit + same salt → same variant, on every isolate.
 *
 * A release's canary variant is a layer above the others: a unit is in the canary when its point under
 * (salt ":" canary name) is below the canary's weight (its share of all traffic); every other unit gets the variant
 * the other variants' weights give it, exactly as without the canary. Growing the canary only moves units from the
 * baseline into it, and a unit that stays in the baseline keeps its variant.
 */
import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../env";
import type { ExperimentConfig, Variant } from "./config";

export const UID_COOKIE = "vitrine_uid";
export const UID_FORMAT = /^[A-Za-z0-9-]{8,64}$/;
const ONE_YEAR_S = 365 * 24 * 3600;

const encoder = new TextEncoder();

/** Uniform point in [0, 1) from the first 48 bits of SHA-256(salt:unit). */
export async function bucketPoint(salt: string, unit: string): Promise<number> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`${salt}:${unit}`)));
  let x = 0;
  for (let i = 0; i < 6; i++) x = x * 256 + digest[i]!;
  return x / 2 ** 48;
}

export function pickVariant(variants: readonly Variant[], point: number): Variant {
  const total = variants.reduce((s, v) => s + v.weight, 0);
  let acc = 0;
  for (const v of variants) {
    acc += v.weight / total;
    if (point < acc) return v;
  }
  const last = variants[variants.length - 1];
  if (!last) throw new Error("experiment has no variants");
  return last;
}

export async function assignVariant(config: ExperimentConfig, unit: string): Promise<Variant> {
  const canary = config.variants.find((v) => v.canary);
  const rest = canary ? config.variants.filter((v) => !v.canary) : config.variants;
  if (canary && (rest.length === 0 || (await bucketPoint(`${config.salt}:${canary.name}`, unit)) < canary.weight))
    return canary;
  if (rest.length === 1) return rest[0]!;
  return pickVariant(rest, await bucketPoint(config.salt, unit));
}

/**
 * A first-visit anonymous id derived from the client (IP + User-Agent) rather than drawn at random, so a client that
 * does not keep cookies (curl, crawlers, a first page view racing a second) still lands in the same variant — and so
 * hits the same cache entries — until the cookie takes over.
 */
async function anonymousId(c: Context<AppEnv>): Promise<string> {
  const client = `${c.req.header("cf-connecting-ip") ?? ""}|${c.req.header("user-agent") ?? ""}`;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(client)));
  return Array.from(digest.subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The unit id of this request: `user` when given, else the `vitrine_uid` cookie, else an anonymous id derived from
 * the client that is set as a cookie on the response.
 */
export async function unitId(c: Context<AppEnv>, user: string | undefined): Promise<string> {
  if (user) return `u:${user}`;
  const cookie = getCookie(c, UID_COOKIE);
  if (cookie && UID_FORMAT.test(cookie)) return `a:${cookie}`;
  const fresh = await anonymousId(c);
  setCookie(c, UID_COOKIE, fresh, {
    path: "/",
    maxAge: ONE_YEAR_S,
    httpOnly: true,
    sameSite: "Lax",
    secure: new URL(c.req.url).protocol === "https:",
  });
  return `a:${fresh}`;
}
