/**
 * Request collapsing and the response cache's lifetimes (edge/cache/response-cache.ts, edge/cache/single-flight.ts),
 * route-agnostic, on the real workerd Cache API: concurrent misses for one key run one computation; a degraded
 * answer lives DEGRADED_CACHE_TTL_S and is then recomputed by one request; a stale non-degraded entry is served while
 * ONE background refresh (waitUntil) recomputes it; answers under different scopes (users) are never shared; the
 * in-flight map is bounded. The search route's use of it is tested in cascade.test.ts (ORT lives there).
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { cachedAnswer, collapsingStats, responseCacheKey, type CacheOutcome } from "../../edge/cache/response-cache";
import type { Bindings } from "../../edge/env";

interface Answer {
  n: number;
  degraded: boolean;
}

const plan = { experimentId: "exp", variant: "control", lightModel: "light-x", heavyModel: "heavy-x" };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let seq = 0;
const freshQuery = (): string => `collapse test ${Date.now()} ${++seq}`;

/** An env whose cache vars differ (config() is memoised per env object, so each gets its own parse). */
function envWith(vars: Record<string, string>): Bindings {
  return { ...(env as unknown as Bindings), ...vars } as Bindings;
}

/** A computation that counts its runs and answers after `ms`. */
function counter(ms: number, degraded: (n: number) => boolean = () => false) {
  const state = { runs: 0 };
  const compute = async (): Promise<Answer> => {
    const n = ++state.runs;
    await sleep(ms);
    return { n, degraded: degraded(n) };
  };
  return { state, compute };
}

async function ask(e: Bindings, key: Request, compute: () => Promise<Answer>) {
  const ctx = createExecutionContext();
  const out = await cachedAnswer({ env: e, ctx, key, compute, degraded: (a) => a.degraded });
  return { ...out, ctx };
}

function tally(outcomes: CacheOutcome[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) t[o] = (t[o] ?? 0) + 1;
  return t;
}

describe("request collapsing", () => {
  it("N concurrent identical misses run one computation and share its answer", async () => {
    const e = envWith({});
    const key = responseCacheKey("search", freshQuery(), 20, plan);
    const { state, compute } = counter(100);
    const before = collapsingStats();
    const results = await Promise.all(Array.from({ length: 16 }, () => ask(e, key, compute)));
    expect(state.runs).toBe(1);
    // a follower whose cache read returns after the leader stored its answer reads it (HIT): never a second run
    const t = tally(results.map((r) => r.outcome));
    expect(t.MISS).toBe(1);
    expect((t.COLLAPSED ?? 0) + (t.HIT ?? 0)).toBe(15);
    expect(t.COLLAPSED ?? 0).toBeGreaterThan(0);
    expect(new Set(results.map((r) => r.answer.n))).toEqual(new Set([1]));
    const after = collapsingStats();
    expect(after.joined - before.joined).toBe(t.COLLAPSED ?? 0);
    expect(after.inFlight).toBe(0); // cleaned on settle
    await Promise.all(results.map((r) => waitOnExecutionContext(r.ctx)));
    const again = await ask(e, key, compute);
    expect(again.outcome).toBe("HIT");
    expect(state.runs).toBe(1);
  });

  it("a failed computation is shared by its followers but not remembered", async () => {
    const e = envWith({});
    const key = responseCacheKey("search", freshQuery(), 20, plan);
    let runs = 0;
    const failing = async (): Promise<Answer> => {
      runs += 1;
      await sleep(50);
      throw new Error("boom");
    };
    const settled = await Promise.allSettled(Array.from({ length: 4 }, () => ask(e, key, failing)));
    expect(settled.every((s) => s.status === "rejected")).toBe(true);
    expect(runs).toBe(1);
    const ok = await ask(e, key, counter(0).compute);
    expect(ok.outcome).toBe("MISS");
  });

  it("a degraded answer lives DEGRADED_CACHE_TTL_S, is never served stale, and is refreshed by one request", async () => {
    const e = envWith({ DEGRADED_CACHE_TTL_S: "1", CACHE_SWR_S: "60" });
    const key = responseCacheKey("search", freshQuery(), 20, plan);
    const { state, compute } = counter(50, (n) => n === 1); // the first answer is degraded, later ones are not
    const first = await ask(e, key, compute);
    expect(first.outcome).toBe("MISS");
    await waitOnExecutionContext(first.ctx);
    const hit = await ask(e, key, compute);
    expect(hit.outcome).toBe("HIT");
    expect(hit.answer).toEqual({ n: 1, degraded: true });

    await sleep(1_100);
    const results = await Promise.all(Array.from({ length: 8 }, () => ask(e, key, compute)));
    const t = tally(results.map((r) => r.outcome));
    expect(t.MISS).toBe(1);
    expect((t.COLLAPSED ?? 0) + (t.HIT ?? 0)).toBe(7); // a late cache read may see the refreshed entry
    expect(state.runs).toBe(2);
    expect(results.every((r) => r.answer.n === 2 && !r.answer.degraded)).toBe(true);
  });

  it("a stale entry is served at once while one background refresh recomputes it (stale-while-revalidate)", async () => {
    const e = envWith({ CACHE_TTL_S: "1", CACHE_SWR_S: "60" });
    const key = responseCacheKey("search", freshQuery(), 20, plan);
    const { state, compute } = counter(1_000);
    const first = await ask(e, key, compute);
    await waitOnExecutionContext(first.ctx);
    await sleep(1_100);

    const t0 = Date.now();
    const stale = await Promise.all(Array.from({ length: 6 }, () => ask(e, key, compute)));
    expect(Date.now() - t0).toBeLessThan(1_000); // nobody waited for the 1 s refresh
    expect(stale.every((r) => r.outcome === "STALE" && r.answer.n === 1)).toBe(true);
    await Promise.all(stale.map((r) => waitOnExecutionContext(r.ctx)));
    expect(state.runs).toBe(2); // one refresh for six stale reads

    const fresh = await ask(e, key, compute);
    expect(fresh.outcome).toBe("HIT");
    expect(fresh.answer.n).toBe(2);
  });

  it("answers under different scopes (users) are never shared", async () => {
    const e = envWith({});
    const q = freshQuery();
    const keyA = responseCacheKey("recommend", q, 20, plan, { user: "alice" });
    const keyB = responseCacheKey("recommend", q, 20, plan, { user: "bob" });
    expect(keyA.url).not.toBe(keyB.url);
    const { state, compute } = counter(50);
    const [a, b] = await Promise.all([ask(e, keyA, compute), ask(e, keyB, compute)]);
    expect(state.runs).toBe(2);
    expect(a.outcome).toBe("MISS");
    expect(b.outcome).toBe("MISS");
    expect(a.answer.n).not.toBe(b.answer.n);
    await Promise.all([waitOnExecutionContext(a.ctx), waitOnExecutionContext(b.ctx)]);
    expect((await ask(e, keyA, compute)).answer.n).toBe(a.answer.n);
    expect((await ask(e, keyB, compute)).answer.n).toBe(b.answer.n);
  });

  it("treats an entry in an older format as a miss", async () => {
    const key = responseCacheKey("search", freshQuery(), 20, plan);
    const legacy = new Response(JSON.stringify({ items: [], degraded: false }), {
      headers: { "content-type": "application/json", "cache-control": "public, max-age=300" },
    });
    await (caches as CacheStorage & { default: Cache }).default.put(key, legacy);
    const { state, compute } = counter(0);
    const out = await ask(envWith({}), key, compute);
    expect(out.outcome).toBe("MISS");
    expect(out.answer.n).toBe(1);
    expect(state.runs).toBe(1);
  });

  it("is bounded: with COLLAPSE_MAX_KEYS keys in flight a new key runs on its own", async () => {
    const e = envWith({ COLLAPSE_MAX_KEYS: "0" });
    const key = responseCacheKey("search", freshQuery(), 20, plan);
    const { state, compute } = counter(50);
    const results = await Promise.all(Array.from({ length: 4 }, () => ask(e, key, compute)));
    expect(state.runs).toBe(4);
    expect(results.every((r) => r.outcome === "MISS")).toBe(true);
  });
});
