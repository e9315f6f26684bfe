/**
 * Everything that runs onnxruntime-web lives in this one file (the pool ships ORT's wasm per test file, slowly):
 * ONNX parity with PyTorch, and the HTTP surface (/v1/search, /v1/rerank, /healthz) through the real worker.
 * The GPU tier is configured on a closed loopback port (test/vitest.config.ts), so the heavy stage is unreachable
 * here; the happy path with a real gpu-tier is covered by test/integration/search.test.mjs.
 */
import { env, SELF } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { invalidateExperimentConfig } from "../../edge/experiments/config";
import { collapsingStats } from "../../edge/cache/response-cache";
import {
  DEFAULT_HEAVY_MODEL,
  DEFAULT_LIGHT_MODEL,
  DEFAULT_RECS_HEAVY_MODEL,
  DEFAULT_RECS_LIGHT_MODEL,
  LIGHT_MODELS,
} from "../../edge/generated/models";
import { combinedKeys, finalOrder } from "../../edge/ranking/two-stage";
import { toHeavyDoc } from "../../edge/search/rank";
import type { CandidateRow } from "../../edge/search/features";
import { scoreLight } from "../../edge/scoring/light";
import { FIXTURE_PRODUCTS, insertFixtureProducts, RETAIL_PRODUCTS } from "./fixtures";

interface Item {
  id: string;
  title: string;
  brand: string;
  price: number | null;
  score: number;
  scores: { retrieval: number; light: number; heavy: number | null };
}
interface SearchBody {
  items: Item[];
  variant: string;
  experiment: string;
  models: { light: string; heavy: string };
  degraded: boolean;
  degradedReason?: string;
  requestId: string;
}
interface ErrorBody {
  error: string;
  message: string;
  issues: { path: string; message: string }[];
  unknown?: string[];
}

const BASE = "http://vitrine.test";

function get(path: string, init?: RequestInit): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, init);
}

function rerank(body: unknown): Promise<Response> {
  return SELF.fetch(`${BASE}/v1/rerank`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

beforeAll(async () => {
  await insertFixtureProducts(env.DB);
  await insertFixtureProducts(env.DB, RETAIL_PRODUCTS, { store: "online-retail", firstRowid: 1_000 });
  invalidateExperimentConfig();
});

describe("light model in workerd", () => {
  it.each(Object.keys(LIGHT_MODELS))("%s matches PyTorch within 1e-5 (onnxruntime-web)", async (version) => {
    const entry = LIGHT_MODELS[version]!;
    const rows = entry.parity.inputs.length;
    expect(rows).toBeGreaterThan(0);
    const scores = await scoreLight(version, new Float32Array(entry.parity.inputs.flat()), rows);
    expect(scores).toHaveLength(entry.parity.outputs.length);
    for (let i = 0; i < rows; i++) expect(Math.abs(scores[i]! - entry.parity.outputs[i]!)).toBeLessThanOrEqual(1e-5);
  });
});

describe("GET /v1/search validation", () => {
  it.each([
    ["k=-1", "/v1/search?q=red%20shoes&k=-1", "k"],
    ["k=1000", "/v1/search?q=red%20shoes&k=1000", "k"],
    ["k=abc", "/v1/search?q=red%20shoes&k=abc", "k"],
    ["k=2.5", "/v1/search?q=red%20shoes&k=2.5", "k"],
    ["empty q", "/v1/search?q=", "q"],
    ["blank q", "/v1/search?q=%20%20%20", "q"],
    ["missing q", "/v1/search", "q"],
    ["300-char q", `/v1/search?q=${"a".repeat(300)}`, "q"],
  ])("%s → 400 JSON naming the field", async (_name, path, field) => {
    const res = await get(path);
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = (await res.json()) as ErrorBody;
    expect(body.error).toBe("invalid_request");
    expect(body.message).toMatch(new RegExp(`^${field}: `));
    expect(body.issues.map((i) => i.path)).toContain(field);
  });

  it("a query without searchable words → 400", async () => {
    const res = await get("/v1/search?q=%21%21%20%3F%3F");
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).message).toContain("no searchable words");
  });
});

describe("GET /v1/search", () => {
  it("degrades to the light ranking (200) when the GPU tier is unreachable", async () => {
    const res = await get("/v1/search?q=red%20running%20shoes&k=10&user=deg-test");
    expect(res.status).toBe(200);
    const body = (await res.json()) as SearchBody;
    expect(body.degraded).toBe(true);
    expect(body.degradedReason).toMatch(/^gpu_/);
    expect(body.items).toHaveLength(10);
    expect(body.models.light).toBe(DEFAULT_LIGHT_MODEL);
    expect(body.items.every((i) => i.scores.heavy === null)).toBe(true);
    const light = body.items.map((i) => i.scores.light);
    expect(light).toEqual([...light].sort((a, b) => b - a));
    expect(body.items.every((i) => i.score === i.scores.light)).toBe(true);
    expect(body.requestId).toBe(res.headers.get("x-request-id"));
    const timing = res.headers.get("server-timing") ?? "";
    for (const stage of ["retrieval", "light", "gpu", "total"])
      expect(timing).toMatch(new RegExp(`(^|,\\s*)${stage};dur=`));
  });

  it("answers MISS then HIT from the Cache API, with a fresh request id", async () => {
    const path = "/v1/search?q=blue%20coffee%20mug&k=5";
    const first = await get(path);
    expect(first.status).toBe(200);
    expect(first.headers.get("x-vitrine-cache")).toBe("MISS");
    const a = (await first.json()) as SearchBody;
    // the write happens in ctx.waitUntil; poll briefly until it is visible
    let second: Response | undefined;
    for (let i = 0; i < 20; i++) {
      second = await get("/v1/search?q=%20Blue%20%20COFFEE%20mug%20&k=5"); // same normalised query
      if (second.headers.get("x-vitrine-cache") === "HIT") break;
      await second.arrayBuffer();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(second!.headers.get("x-vitrine-cache")).toBe("HIT");
    const b = (await second!.json()) as SearchBody;
    expect(b.items).toEqual(a.items);
    expect(b.requestId).not.toBe(a.requestId);
    const otherK = await get("/v1/search?q=blue%20coffee%20mug&k=6");
    expect(otherK.headers.get("x-vitrine-cache")).toBe("MISS");
  });

  it("collapses concurrent identical misses into one cascade (edge/cache/response-cache.ts)", async () => {
    const before = collapsingStats();
    const path = "/v1/search?q=red%20canvas%20tote&k=7&user=same";
    const responses = await Promise.all(Array.from({ length: 12 }, () => get(path)));
    const outcomes = responses.map((r) => r.headers.get("x-vitrine-cache"));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as SearchBody[];
    expect(responses.every((r) => r.status === 200)).toBe(true);
    // one cascade for the 12: the leader ran it; the others waited for its answer (COLLAPSED) or, when the pool's
    // runner delivered them after it had stored the answer, read it from the cache (HIT) — never a second run
    expect(outcomes.filter((o) => o === "MISS")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "COLLAPSED" || o === "HIT")).toHaveLength(11);
    expect(collapsingStats().started - before.started).toBe(1);
    expect(new Set(bodies.map((b) => JSON.stringify(b.items))).size).toBe(1);
    expect(new Set(bodies.map((b) => b.requestId)).size).toBe(12); // per-request fields stay per request
  });

  it("sets an anonymous id cookie once and keeps the variant for a user", async () => {
    const res = await get("/v1/search?q=yoga%20mat");
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^vitrine_uid=[A-Za-z0-9-]+;/);
    const uid = cookie.split(";")[0]!;
    const again = await get("/v1/search?q=yoga%20mat", { headers: { cookie: uid } });
    expect(again.headers.get("set-cookie")).toBeNull();
    const withUser = await get("/v1/search?q=yoga%20mat&user=alice");
    expect(withUser.headers.get("set-cookie")).toBeNull();
    expect(((await withUser.json()) as SearchBody).variant).toBe("default");
  });

  it("returns an empty list when nothing matches", async () => {
    const res = await get("/v1/search?q=zzzzqqqq");
    expect(res.status).toBe(200);
    expect(((await res.json()) as SearchBody).items).toEqual([]);
  });
});

describe("stores in search", () => {
  const retail = new Set(RETAIL_PRODUCTS.map((p) => p.id));
  const esci = new Set(FIXTURE_PRODUCTS.map((p) => p.id));

  it("searches only the named store's products", async () => {
    const res = await get("/v1/search?store=online-retail&q=lunch%20bag&k=20");
    expect(res.status).toBe(200);
    const ids = ((await res.json()) as SearchBody).items.map((i) => i.id);
    expect(ids.length).toBe(3); // the three lunch bags
    for (const id of ids) expect(retail.has(id)).toBe(true);
  });

  it("keeps each store's answer to the same query apart (retrieval and cache)", async () => {
    for (const [path, own] of [
      ["/v1/search?q=coffee%20mug&k=50", esci], // no store = esci
      ["/v1/search?store=esci&q=coffee%20mug&k=50", esci],
      ["/v1/search?store=online-retail&q=coffee%20mug&k=50", retail],
      ["/v1/search?q=coffee%20mug&k=50", esci], // a cache hit now: still the default store's answer
    ] as const) {
      const ids = ((await (await get(path)).json()) as SearchBody).items.map((i) => i.id);
      expect(ids.length, path).toBeGreaterThan(0);
      for (const id of ids) expect(own.has(id), `${path}: ${id}`).toBe(true);
    }
  });

  it("answers 404 JSON for an unknown store", async () => {
    const res = await get("/v1/search?store=no-such-store&q=mug");
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: "unknown_store", issues: [{ path: "store" }] });
  });
});

describe("POST /v1/rerank", () => {
  const ids = FIXTURE_PRODUCTS.slice(0, 45).map((p) => p.id);

  it("returns exactly the given candidates (degraded when the GPU tier is unreachable)", async () => {
    const res = await rerank({ query: "green desk lamp", candidates: ids });
    expect(res.status).toBe(200);
    const body = (await res.json()) as SearchBody;
    expect(body.items.map((i) => i.id).sort()).toEqual([...ids].sort());
    expect(body.degraded).toBe(true);
    expect(res.headers.get("x-vitrine-cache")).toBe("BYPASS");
  });

  it("collapses duplicate ids", async () => {
    const res = await rerank({ query: "lamp", candidates: [ids[0], ids[1], ids[0]] });
    expect(res.status).toBe(200);
    expect(((await res.json()) as SearchBody).items.map((i) => i.id).sort()).toEqual([ids[0], ids[1]].sort());
  });

  it("rejects unknown ids with a 400 listing them", async () => {
    const res = await rerank({ query: "lamp", candidates: [ids[0], "NOPE-1", "NOPE-2"] });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.error).toBe("unknown_candidates");
    expect(body.unknown).toEqual(["NOPE-1", "NOPE-2"]);
  });

  it("ranks the named store's products; another store's ids are not its candidates (400)", async () => {
    const retail = RETAIL_PRODUCTS.slice(0, 4).map((p) => p.id);
    const res = await rerank({ query: "coffee mug", candidates: retail, store: "online-retail" });
    expect(res.status).toBe(200);
    expect(((await res.json()) as SearchBody).items.map((i) => i.id).sort()).toEqual([...retail].sort());
    // no store named: the default store's catalog, where the retail ids are not
    const mixed = await rerank({ query: "coffee mug", candidates: [ids[0], retail[0]] });
    expect(mixed.status).toBe(400);
    expect(await mixed.json()).toMatchObject({ error: "unknown_candidates", unknown: [retail[0]] });
    const wrong = await rerank({ query: "coffee mug", candidates: [ids[0]], store: "online-retail" });
    expect(await wrong.json()).toMatchObject({ error: "unknown_candidates", unknown: [ids[0]] });
  });

  it.each([
    ["an unknown store", "no-such-store", 404, "unknown_store"],
    ["an empty store", "", 400, "invalid_request"],
    ["a store id over 64 characters", "x".repeat(65), 400, "invalid_request"],
    ["a non-string store", 7, 400, "invalid_request"],
  ])("%s → %i JSON", async (_name, store, status, error) => {
    const res = await rerank({ query: "lamp", candidates: [ids[0]], store });
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toMatchObject({ error, issues: [{ path: "store" }] });
  });

  it.each([
    ["no candidates", { query: "lamp", candidates: [] }, "candidates"],
    ["201 candidates", { query: "lamp", candidates: Array.from({ length: 201 }, (_, i) => `id${i}`) }, "candidates"],
    ["missing query", { candidates: ["a"] }, "query"],
    ["non-string ids", { query: "lamp", candidates: [1, 2] }, "candidates.0"],
  ])("%s → 400", async (_name, body, field) => {
    const res = await rerank(body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).issues.map((i) => i.path)).toContain(field);
  });

  it("malformed JSON → 400, not 500", async () => {
    const res = await SELF.fetch(`${BASE}/v1/rerank`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{nope",
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error).toBe("invalid_request");
  });
});

describe("experiment variants over HTTP", () => {
  beforeAll(async () => {
    await env.DB.batch([
      env.DB.prepare(
        "INSERT OR REPLACE INTO experiments (id, surface, salt, active, updated_at) VALUES ('search-default', 'search', 'vitrine-search-v1', 1, 0)",
      ),
      env.DB.prepare(
        "INSERT OR REPLACE INTO experiment_variants (experiment_id, name, weight, light_model, heavy_model, gpu_target_variant, top_m) VALUES ('search-default', 'control', 0.5, ?1, '', '', 50), ('search-default', 'treatment', 0.5, ?1, '', '', 30)",
      ).bind(DEFAULT_LIGHT_MODEL),
    ]);
    invalidateExperimentConfig();
  });
  afterAll(async () => {
    await env.DB.batch([env.DB.prepare("DELETE FROM experiment_variants"), env.DB.prepare("DELETE FROM experiments")]);
    invalidateExperimentConfig();
  });

  it("keeps a user on one variant and splits users across both", async () => {
    const seen = new Set<string>();
    for (let u = 0; u < 16; u++) {
      const variants = new Set<string>();
      for (let i = 0; i < 3; i++) {
        const res = await get(`/v1/search?q=${i % 2 ? "lamp" : "desk%20lamp"}&k=3&user=sticky-${u}`);
        expect(res.status).toBe(200);
        variants.add(((await res.json()) as SearchBody).variant);
      }
      expect(variants.size).toBe(1);
      seen.add([...variants][0]!);
    }
    expect([...seen].sort()).toEqual(["control", "treatment"]);
  });

  it("keeps an anonymous caller on one variant through the vitrine_uid cookie", async () => {
    const first = await get("/v1/search?q=mug");
    const uid = (first.headers.get("set-cookie") ?? "").split(";")[0]!;
    const variant = ((await first.json()) as SearchBody).variant;
    for (let i = 0; i < 4; i++) {
      const res = await get(`/v1/search?q=mug&k=${i + 2}`, { headers: { cookie: uid } });
      expect(((await res.json()) as SearchBody).variant).toBe(variant);
    }
  });

  it("gives a cookieless client the same anonymous id (and variant) on every request", async () => {
    const client = (ua: string) => ({ headers: { "user-agent": ua, "cf-connecting-ip": "203.0.113.7" } });
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const res = await get(`/v1/search?q=mug&k=${i + 2}`, client("curl/8.0"));
      ids.add((res.headers.get("set-cookie") ?? "").split(";")[0]!);
    }
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^vitrine_uid=[0-9a-f]{32}$/);
    const other = await get("/v1/search?q=mug", client("Mozilla/5.0"));
    expect((other.headers.get("set-cookie") ?? "").split(";")[0]).not.toBe([...ids][0]);
  });
});

describe("experiments per store", () => {
  const RETAIL = "online-retail";
  /** one active single-variant experiment of a store's surface, with the models its variant names */
  const experiment = (id: string, store: string, surface: string, variant: string, light: string, heavy: string) => [
    env.DB.prepare(
      "INSERT INTO experiments (id, store, surface, salt, active, updated_at) VALUES (?1, ?2, ?3, ?1, 1, 0)",
    ).bind(id, store, surface),
    env.DB.prepare(
      "INSERT INTO experiment_variants (experiment_id, name, weight, light_model, heavy_model, top_m) VALUES (?1, ?2, 1, ?3, ?4, 7)",
    ).bind(id, variant, light, heavy),
  ];
  const seed = async (...experiments: D1PreparedStatement[][]) => {
    await env.DB.batch([
      env.DB.prepare("DELETE FROM experiment_variants"),
      env.DB.prepare("DELETE FROM experiments"),
      ...experiments.flat(),
    ]);
    invalidateExperimentConfig();
  };
  const retailSearch = () =>
    experiment("retail-search-ab", RETAIL, "search", "retail-treatment", DEFAULT_LIGHT_MODEL, "heavy-retail-x");
  const esciSearch = () =>
    experiment("esci-search-ab", "esci", "search", "esci-control", DEFAULT_LIGHT_MODEL, "heavy-esci-y");
  const retailRecs = () =>
    experiment("retail-recs-ab", RETAIL, "recommend", "retail-recs", DEFAULT_RECS_LIGHT_MODEL, "recs-heavy-z");

  /** the variant, experiment and heavy model every ranking route of a store serves */
  const served = async (store: string | undefined) => {
    const named = store ? `&store=${store}` : "";
    const candidates = (store === RETAIL ? RETAIL_PRODUCTS : FIXTURE_PRODUCTS).slice(0, 3).map((p) => p.id);
    const answers = [
      await get(`/v1/search?q=coffee%20mug&k=5&user=per-store${named}`),
      await rerank({ query: "coffee mug", candidates, user: "per-store", ...(store ? { store } : {}) }),
      await get(`/v1/recommend?k=5&user=per-store${named}`),
    ];
    return Promise.all(
      answers.map(async (res) => {
        expect(res.status).toBe(200);
        const body = (await res.json()) as SearchBody;
        return [body.variant, body.experiment, body.models.heavy];
      }),
    );
  };
  const builtin = (heavy: string) => ["default", "builtin-default", heavy];

  afterAll(async () => {
    await seed();
  });

  it("an experiment of online-retail serves its shoppers only: esci requests keep the default store's config", async () => {
    await seed(retailSearch(), retailRecs());
    expect(await served(RETAIL)).toEqual([
      ["retail-treatment", "retail-search-ab", "heavy-retail-x"],
      ["retail-treatment", "retail-search-ab", "heavy-retail-x"],
      ["retail-recs", "retail-recs-ab", "recs-heavy-z"],
    ]);
    for (const store of [undefined, "esci"])
      expect(await served(store)).toEqual([
        builtin(DEFAULT_HEAVY_MODEL),
        builtin(DEFAULT_HEAVY_MODEL),
        builtin(DEFAULT_RECS_HEAVY_MODEL),
      ]);
  });

  it("and vice versa: an esci experiment leaves online-retail on its built-in default", async () => {
    await seed(esciSearch());
    for (const store of [undefined, "esci"])
      expect((await served(store)).slice(0, 2)).toEqual([
        ["esci-control", "esci-search-ab", "heavy-esci-y"],
        ["esci-control", "esci-search-ab", "heavy-esci-y"],
      ]);
    expect(await served(RETAIL)).toEqual([
      builtin(DEFAULT_HEAVY_MODEL),
      builtin(DEFAULT_HEAVY_MODEL),
      builtin(DEFAULT_RECS_HEAVY_MODEL),
    ]);
  });

  it("both active at once: each store's requests get their own store's variant", async () => {
    await seed(esciSearch(), retailSearch());
    expect((await served("esci"))[0]).toEqual(["esci-control", "esci-search-ab", "heavy-esci-y"]);
    expect((await served(RETAIL))[0]).toEqual(["retail-treatment", "retail-search-ab", "heavy-retail-x"]);
  });
});

describe("GET /healthz", () => {
  it("reports model versions and an unreachable GPU tier", async () => {
    const res = await get("/healthz");
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      status: string;
      models: { light: string[]; defaultLight: string };
      gpu: { reachable: boolean };
    };
    expect(body.models.light).toContain(DEFAULT_LIGHT_MODEL);
    expect(body.gpu.reachable).toBe(false);
    expect(body.status).toBe("degraded");
  });
});

describe("cascade pieces", () => {
  const row = (id: string, bm25: number): CandidateRow =>
    ({
      id,
      title: `t${id}`,
      brand: "b",
      color: "",
      bullets: "x".repeat(5000),
      description: "",
      category: "c",
      price: 1,
      bm25,
    }) as unknown as CandidateRow;

  // candidates a, b, c, d in light order (the light stage's output), the light top 3 heavy-scored
  const lightRanked = (light: number[]) => ({ order: light.map((_, i) => i), light: Float32Array.from(light) });
  const ids = (entries: { index: number }[]) => entries.map((e) => "abcd"[e.index]);

  it("orders the heavy-scored top M by heavy score, the rest by light score below them", () => {
    const ranked = lightRanked([0.9, 0.8, 0.7, 0.1]);
    const heavy = [0.1, 0.95, 0.5];
    const entries = finalOrder(ranked, {
      scores: heavy,
      keys: combinedKeys({ kind: "heavy" }, [0.9, 0.8, 0.7], heavy),
    });
    expect(ids(entries)).toEqual(["b", "c", "a", "d"]);
    expect(entries.map((e) => e.heavy)).toEqual([0.95, 0.5, 0.1, null]);
    expect(entries[3]!.score).toBeCloseTo(0.1, 6);
    expect(ids(finalOrder(ranked, null))).toEqual(["a", "b", "c", "d"]);
  });

  it("blends per-list z-scores of heavy and light when the heavy version has a blend weight", () => {
    const ranked = lightRanked([3, 2, 1, 0]);
    // heavy alone prefers c > b > a; z(light) = [1.22, 0, -1.22], z(heavy) = [-1.34, 0.27, 1.07]
    const heavy = [0.0, 0.6, 0.9];
    const blend = (weight: number) =>
      finalOrder(ranked, { scores: heavy, keys: combinedKeys({ kind: "blend", weight }, [3, 2, 1], heavy) });
    expect(ids(blend(0))).toEqual(["c", "b", "a", "d"]);
    // w = 2: a = -1.34 + 2.45 = 1.11, b = 0.27, c = 1.07 - 2.45 = -1.38
    const blended = blend(2);
    expect(ids(blended)).toEqual(["a", "b", "c", "d"]);
    expect(blended[0]!.score).toBeCloseTo(1.1132, 3);
    expect(blended[0]!.heavy).toBe(0);
  });

  it("adds the weighted heavy score to the light one for a residual heavy model (recommendations)", () => {
    const ranked = lightRanked([1, 0.9, 0.5, 0.4]);
    const heavy = [-1, 1, 0];
    const entries = finalOrder(ranked, {
      scores: heavy,
      keys: combinedKeys({ kind: "residual", weight: 0.5 }, [1, 0.9, 0.5], heavy),
    });
    // a = 1 - 0.5 = 0.5, b = 0.9 + 0.5 = 1.4, c = 0.5 + 0 = 0.5 (a before c: light order breaks the tie)
    expect(ids(entries)).toEqual(["b", "a", "c", "d"]);
    expect(entries.map((e) => e.score)).toEqual([1.4, 0.5, 0.5, 0.4].map((x) => expect.closeTo(x, 6)));
  });

  it("truncates long text fields for the GPU request and drops empty ones", () => {
    const doc = toHeavyDoc(row("a", 1));
    expect(doc.bullets).toHaveLength(1000);
    expect(doc).not.toHaveProperty("color");
    expect(doc).not.toHaveProperty("description");
  });
});
