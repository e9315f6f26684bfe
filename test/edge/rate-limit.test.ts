/**
 * Rate limits through the worker's app (app.fetch in this isolate, with the test env's real Workers rate-limiting
 * bindings from wrangler.toml: API_RATE_LIMITER per client, its budget lowered to 100 per 10 s in
 * test/vitest.config.ts; LOGIN_RATE_LIMITER 10 per 60 s per IP). Requests are cheap (400s, failed logins) and every
 * test uses its own client keys. The binding counts in fixed windows of its period, so a test starts early in one and
 * tolerates a burst that straddles two.
 */
import { createExecutionContext, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../edge/app";
import { DRILL_HEADER, signDrillHeader } from "../../edge/drills/header";
import { RATE_LIMIT_PERIODS_S } from "../../edge/middleware/rate-limit";

const BASE = "http://vitrine.test";
const API_LIMIT = 100; // test/vitest.config.ts (wrangler.toml: 600)
const LOGIN_LIMIT = 10;

/** The worker's app in this isolate with the test env: the same bindings as SELF, without a loopback hop per request. */
const call = async (path: string, init?: RequestInit): Promise<Response> =>
  app.fetch(new Request(`${BASE}${path}`, init), env, createExecutionContext());

/** Waits for the start of a fresh fixed window when less than `needS` seconds of the current one remain. */
async function freshWindow(periodS: number, needS: number): Promise<void> {
  const left = periodS * 1000 - (Date.now() % (periodS * 1000));
  if (left < needS * 1000) await new Promise((r) => setTimeout(r, left + 50));
}

/** Sends `n` requests in parallel batches; returns their statuses in order. */
async function burst(n: number, make: (i: number) => Promise<Response>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i += 25) {
    const batch = await Promise.all(Array.from({ length: Math.min(25, n - i) }, (_, j) => make(i + j)));
    for (const r of batch) {
      out.push(r.status);
      await r.arrayBuffer();
    }
  }
  return out;
}

/**
 * Sends requests (batches of 25) until one is refused with 429, at most `max`: the accepted count and the first
 * refusal. The binding counts in fixed windows, so on a loaded machine a burst may straddle two windows: a client
 * then gets between one and two budgets before its first 429, never less than one.
 */
async function untilRefused(
  max: number,
  make: () => Promise<Response>,
): Promise<{ accepted: number; refused?: Refusal }> {
  let accepted = 0;
  while (accepted < max) {
    const batch = await Promise.all(Array.from({ length: 25 }, make));
    let refused: Refusal | undefined;
    for (const r of batch) {
      const body = await r.text(); // every body is read: an unread one keeps its connection busy
      if (r.status !== 429) accepted += 1;
      else refused ??= { status: r.status, headers: r.headers, body };
    }
    if (refused) return { accepted, refused };
  }
  return { accepted };
}

interface Refusal {
  status: number;
  headers: Headers;
  body: string;
}

/** The status of a response whose body is read (an unread body keeps its connection busy). */
async function statusOf(res: Promise<Response> | Response): Promise<number> {
  const r = await res;
  await r.arrayBuffer();
  return r.status;
}

const tag = (): string => crypto.randomUUID().slice(0, 8);

describe("public API rate limit (API_RATE_LIMITER)", () => {
  it("lets a client's first API_LIMIT requests in a window through, then answers 429 JSON with Retry-After", async () => {
    const user = `rl-${tag()}`;
    await freshWindow(RATE_LIMIT_PERIODS_S.API_RATE_LIMITER, 5);
    const origin = "https://shop.example.com";
    const { accepted, refused } = await untilRefused(3 * API_LIMIT, () =>
      call(`/v1/search?user=${user}`, { headers: { Origin: origin } }),
    ); // no q: a cheap 400
    expect(refused?.status).toBe(429);
    expect(accepted).toBeGreaterThanOrEqual(API_LIMIT);
    expect(accepted).toBeLessThanOrEqual(2 * API_LIMIT);
    expect(refused!.headers.get("retry-after")).toBe(String(RATE_LIMIT_PERIODS_S.API_RATE_LIMITER));
    expect(refused!.headers.get("access-control-allow-origin")).toBe(origin); // readable by the storefront
    const body = JSON.parse(refused!.body) as { error: string; retryAfterS: number; requestId: string };
    expect(body).toMatchObject({ error: "rate_limited", retryAfterS: RATE_LIMIT_PERIODS_S.API_RATE_LIMITER });
    expect(body.requestId).toBe(refused!.headers.get("x-request-id"));
    // the same client's POSTs share the budget (rerank's `user` is read from the JSON body)
    const rerank = await call("/v1/rerank", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "belt", candidates: ["p1"], user }),
    });
    expect(await statusOf(rerank)).toBe(429);
    // another client is unaffected
    expect(await statusOf(call(`/v1/search?user=other-${tag()}`))).toBe(400);
  });

  it("keys a client without `user` by its vitrine_uid cookie, else by its IP", async () => {
    await freshWindow(RATE_LIMIT_PERIODS_S.API_RATE_LIMITER, 5);
    const uid = `uid${tag()}${tag()}`;
    const ip = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
    const get = (headers: Record<string, string>) => () => call("/v1/search", { headers }); // no q: a cheap 400
    const byCookie = await untilRefused(3 * API_LIMIT, get({ cookie: `vitrine_uid=${uid}`, "cf-connecting-ip": ip }));
    expect(byCookie.refused?.status).toBe(429);
    expect(byCookie.accepted).toBeGreaterThanOrEqual(API_LIMIT);
    // the same IP without the cookie is another client with its own budget, refused in turn
    expect(await statusOf(call("/v1/search", { headers: { "cf-connecting-ip": ip } }))).toBe(400);
    const byIp = await untilRefused(3 * API_LIMIT, get({ "cf-connecting-ip": ip }));
    expect(byIp.refused?.status).toBe(429);
    expect(byIp.accepted).toBeGreaterThanOrEqual(API_LIMIT - 1);
  });

  it("never limits a signed drill probe, even for a client past its budget; a forged drill header gets no exemption", async () => {
    const user = `drill-${tag()}`;
    const header = await signDrillHeader(env.DRILL_SECRET!, { run: "rl-test", scenario: "cold_cache", fault: {} });
    const forged = await signDrillHeader("not-the-secret", { run: "rl-test", scenario: "cold_cache", fault: {} });
    const windowOf = (ms: number): number => Math.floor(ms / (RATE_LIMIT_PERIODS_S.API_RATE_LIMITER * 1000));
    // the checks must fall in the window the budget was spent in; on a loaded machine, spend it again and retry
    for (let attempt = 0; attempt < 3; attempt++) {
      await freshWindow(RATE_LIMIT_PERIODS_S.API_RATE_LIMITER, 5);
      const window = windowOf(Date.now()); // before the budget is spent: spending and checks must share it
      const spent = await untilRefused(3 * API_LIMIT, () => call(`/v1/search?user=${user}`));
      if (windowOf(Date.now()) !== window) continue;
      expect(spent.refused?.status).toBe(429);
      const status = async (init?: RequestInit): Promise<number> => {
        const r = await call(`/v1/search?user=${user}`, init);
        await r.arrayBuffer();
        return r.status;
      };
      const forgedStatus = await status({ headers: { [DRILL_HEADER]: forged } });
      const garbageStatus = await status({ headers: { [DRILL_HEADER]: "v1.bm9wZQ.bm9wZQ" } });
      const probes = await burst(5, () => call(`/v1/search?user=${user}`, { headers: { [DRILL_HEADER]: header } }));
      const plainStatus = await status();
      if (windowOf(Date.now()) !== window) continue;
      expect({ forgedStatus, garbageStatus, probes, plainStatus }).toEqual({
        forgedStatus: 429,
        garbageStatus: 429,
        probes: Array(5).fill(400),
        plainStatus: 429,
      });
      return;
    }
    throw new Error("the checks never fit in one rate-limit window");
  });

  it("is off with RATE_LIMITS=off", async () => {
    const off = { ...env, RATE_LIMITS: "off" };
    const user = `off-${tag()}`;
    const statuses = await burst(API_LIMIT + 5, () =>
      Promise.resolve(app.fetch(new Request(`${BASE}/v1/search?user=${user}`), off, createExecutionContext())),
    );
    expect(statuses.every((s) => s === 400)).toBe(true);
  });
});

describe("admin login rate limit (LOGIN_RATE_LIMITER)", () => {
  it("allows 10 login attempts a minute per IP, then 429 even for the right token; the public API budget is separate", async () => {
    const ip = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;
    await freshWindow(RATE_LIMIT_PERIODS_S.LOGIN_RATE_LIMITER, 15);
    const login = (token: string): Promise<Response> =>
      call("/dashboard/login", {
        method: "POST",
        redirect: "manual",
        headers: { "cf-connecting-ip": ip, "content-type": "application/x-www-form-urlencoded" },
        body: `token=${token}`,
      });
    for (let i = 0; i < LOGIN_LIMIT - 1; i++) expect(await statusOf(login(`wrong-${i}`))).toBe(401);
    expect(await statusOf(login("test-admin-token"))).toBe(303);
    const refused = await login("test-admin-token");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("60");
    expect((await refused.json<{ error: string }>()).error).toBe("rate_limited");
    // another address still logs in; the same address still uses the public API
    const other = await call("/dashboard/login", {
      method: "POST",
      redirect: "manual",
      headers: { "cf-connecting-ip": "192.0.2.77", "content-type": "application/x-www-form-urlencoded" },
      body: "token=test-admin-token",
    });
    expect(await statusOf(other)).toBe(303);
    expect(await statusOf(call("/v1/search", { headers: { "cf-connecting-ip": ip } }))).toBe(400);
  });
});
