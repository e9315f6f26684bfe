/**
 * Recommendations in workerd (one file: it ships ORT's wasm once): the TypeScript sources + features against
 * Python's on test/fixtures/recs-features-parity.json (`python -m vitrine_gpu recs fixture`), the bundled
 * recs-light ONNX against its PyTorch parity rows, and GET /v1/recommend through the real worker with the fixture's
 * tables in local D1 (store `online-retail`, and a second store with its own ids). The GPU tier is on a closed port
 * here (test/vitest.config.ts): every ranked answer is the degraded light order; the heavy path runs in
 * test/integration/recommend.test.mjs.
 */
import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { invalidateExperimentConfig } from "../../edge/experiments/config";
import { DEFAULT_RECS_LIGHT_MODEL, RECS_LIGHT_MODELS } from "../../edge/generated/models";
import type { RecommendAnswer } from "../../edge/recs/answer";
import type { WireAnswer } from "../../edge/routes/ranked";

type RecommendResponseBody = WireAnswer<RecommendAnswer>;
import { RECS_FEATURE_NAMES, recsFeatures } from "../../edge/recs/features";
import { userHistory } from "../../edge/recs/history";
import { MAX_SEQUENCE, sequenceOf } from "../../edge/recs/rank";
import { d1ListsIndex } from "../../edge/recs/ann/d1-lists";
import { readRequestData } from "../../edge/recs/request-data";
import { candidates } from "../../edge/recs/sources/merge";
import { ensureCandidateStats, requestTables, type Read } from "../../edge/recs/tables";
import { scoreLight } from "../../edge/scoring/light";
import fixture from "../fixtures/recs-features-parity.json";
import { loadRecsTables, settingsOf, type TablesJson } from "./recs-tables";

interface Fixture {
  feature_names: string[];
  tables: TablesJson;
  cases: { user: string | null; context: string[]; items: string[]; features: number[][] }[];
}
const fx = fixture as unknown as Fixture;
const VERSION = "recs-light-fixture";
const PARITY_STORE = "parity-store";
const STORE = "online-retail";
const OTHER = "shop-b";
const BASE = "http://vitrine.test";

const get = (path: string): Promise<Response> => SELF.fetch(`${BASE}${path}`);
async function recommend(query: string): Promise<{ res: Response; body: RecommendResponseBody }> {
  const res = await get(`/v1/recommend?${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return { res, body: (await res.json()) as RecommendResponseBody };
}
const ids = (b: RecommendResponseBody): string[] => b.items.map((i) => i.id);
const users = Object.keys(fx.tables.history).sort(
  (a, b) => fx.tables.history[b]!.length - fx.tables.history[a]!.length,
);
const storeItems = new Set(Object.keys(fx.tables.items));

beforeAll(async () => {
  await loadRecsTables(env.DB, fx.tables, PARITY_STORE, VERSION);
  await loadRecsTables(env.DB, fx.tables, STORE, VERSION);
  await loadRecsTables(env.DB, fx.tables, OTHER, VERSION, "b-");
  // the stores' products (only a store's available products are recommended; the ESCI products of the default store
  // stay separate)
  const stmt = env.DB.prepare("INSERT INTO products (id, title, price, store) VALUES (?1, ?2, ?3, ?4)");
  await env.DB.batch([
    ...[...storeItems].flatMap((id) => [
      stmt.bind(id, `Retail item ${id}`, 1.5, STORE),
      stmt.bind(id, `Parity item ${id}`, 1.5, PARITY_STORE),
      stmt.bind(`b-${id}`, `Shop B item ${id}`, 2.5, OTHER),
    ]),
    stmt.bind("B0ESCI00001", "An esci product", 9.99, "esci"),
  ]);
  invalidateExperimentConfig();
});

describe("recs sources + features parity with Python", () => {
  it("has Python's feature names in the same order", () => {
    expect([...RECS_FEATURE_NAMES]).toEqual(fx.feature_names);
    expect(RECS_LIGHT_MODELS[DEFAULT_RECS_LIGHT_MODEL]?.features).toEqual(fx.feature_names);
  });

  it.each(fx.cases.map((c, i) => [i, c] as const))(
    "case %i: same candidates and features within 1e-5",
    async (_i, c) => {
      const settings = settingsOf(fx.tables);
      const data = await readRequestData(env.DB, PARITY_STORE, c.user ?? undefined);
      expect(data.store).toEqual({ id: PARITY_STORE, version: VERSION });
      // the request's slice of the tables, the MF source from the D1 top-N lists (Python scans every item)
      const read: Read = (q) => q(env.DB);
      const slice = await requestTables(read, d1ListsIndex(read), {
        store: PARITY_STORE,
        version: VERSION,
        user: c.user ?? undefined,
        userVector: data.userVector,
        history: data.history,
        contextIds: c.context,
        settings,
        now: settings.now,
      });
      const { tables: t, history: h, context } = slice;
      expect(context.map((i) => t.ids[i])).toEqual(c.context);
      const cands = candidates(t, settings, { history: h, context });
      expect(Array.from(cands.items, (i) => t.ids[i])).toEqual(c.items);
      await ensureCandidateStats(read, t, cands.items);
      expect(Array.from(cands.items, (i) => t.held[i])).not.toContain(0);
      const x = recsFeatures(t, settings.now, h, cands, context);
      const F = RECS_FEATURE_NAMES.length;
      for (let r = 0; r < c.items.length; r++)
        for (let f = 0; f < F; f++) {
          const diff = Math.abs(x[r * F + f]! - c.features[r]![f]!);
          expect(diff, `row ${r} (${c.items[r]}) ${RECS_FEATURE_NAMES[f]}`).toBeLessThanOrEqual(1e-5);
        }
    },
  );

  it("the bundled recs-light ONNX matches PyTorch within 1e-5 (onnxruntime-web)", async () => {
    const entry = RECS_LIGHT_MODELS[DEFAULT_RECS_LIGHT_MODEL]!;
    const rows = entry.parity.inputs.length;
    const scores = await scoreLight(DEFAULT_RECS_LIGHT_MODEL, new Float32Array(entry.parity.inputs.flat()), rows);
    for (let i = 0; i < rows; i++) expect(Math.abs(scores[i]! - entry.parity.outputs[i]!)).toBeLessThanOrEqual(1e-5);
  });
});

describe("the sequence sent to the GPU tier", () => {
  it("is the user's most recent purchases, oldest first, at most MAX_SEQUENCE (the GPU tier takes ≤ 1000)", async () => {
    const ids = Object.keys(fx.tables.items).sort();
    const t = { ids, index: new Map(ids.map((id, i) => [id, i])) };
    const rows = Array.from({ length: 1500 }, (_, j) => ({
      itemId: t.ids[j % t.ids.length]!,
      n: 1,
      lastDay: j,
      qty: 1,
    }));
    const distinct = rows.slice(-t.ids.length); // one row per item: its latest day
    const h = userHistory(distinct, t.index, 2000, 60);
    expect(sequenceOf(t, h)).toHaveLength(Math.min(MAX_SEQUENCE, t.ids.length));
    const seq = sequenceOf(t, h, 10);
    expect(seq).toHaveLength(10);
    expect(seq.map((e) => e.ts)).toEqual([...seq.map((e) => e.ts)].sort((a, b) => a - b));
    expect(seq.at(-1)!.ts).toBe(1499);
    expect(sequenceOf(t, null)).toEqual([]);
  });
});

describe("GET /v1/recommend validation", () => {
  it.each([
    ["k=0", "store=online-retail&user=1&k=0", "k"],
    ["k=101", "store=online-retail&user=1&k=101", "k"],
    ["k=abc", "k=abc", "k"],
    ["empty item", "item=", "item"],
    ["51 cart ids", `cart=${Array.from({ length: 51 }, (_, i) => `x${i}`).join(",")}`, "cart"],
    ["empty cart id", "cart=a,,b", "cart"],
    ["blank user", "user=%20", "user"],
  ])("%s → 400 JSON naming the field", async (_n, query, field) => {
    const res = await get(`/v1/recommend?${query}`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; issues: { path: string }[] };
    expect(body.error).toBe("invalid_request");
    expect(body.issues.map((i) => i.path.split(".")[0])).toContain(field);
  });

  it("an unknown store → 404 JSON", async () => {
    const res = await get("/v1/recommend?store=no-such-store&user=1");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toBe("unknown_store");
  });
});

describe("GET /v1/recommend", () => {
  it("a known user: k items of the store, personalised, degraded to the light order when the GPU is down", async () => {
    const { res, body } = await recommend(`store=${STORE}&user=${users[0]}&k=10`);
    expect(body.items).toHaveLength(10);
    expect(body.personalised).toBe(true);
    expect(body.mode).toBe("user");
    expect(body.degraded).toBe(true);
    expect(body.degradedReason).toMatch(/^gpu_/);
    expect(body.models).toEqual({ light: DEFAULT_RECS_LIGHT_MODEL, heavy: expect.any(String), data: VERSION });
    expect(ids(body).every((id) => storeItems.has(id))).toBe(true);
    const light = body.items.map((i) => i.scores.light);
    expect(light).toEqual([...light].sort((a, b) => b - a));
    expect(body.items.every((i) => i.scores.heavy === null && i.sources.length > 0)).toBe(true);
    expect(body.items[0]!.title).toBe(`Retail item ${body.items[0]!.id}`);
    // the user's own history is a source of a known user's answer
    const own = new Set(fx.tables.history[users[0]!]!.map((r) => r[0]));
    expect(body.items.some((i) => own.has(i.id) && i.sources.includes("recency"))).toBe(true);
    expect(res.headers.get("x-vitrine-cache")).toBe("BYPASS");
    const timing = res.headers.get("server-timing") ?? "";
    for (const stage of ["retrieval", "light", "gpu", "total"]) expect(timing).toMatch(new RegExp(`${stage};dur=`));
  });

  it("personalised answers are never cached across users", async () => {
    const a1 = await recommend(`store=${STORE}&user=${users[0]}&k=20`);
    const b = await recommend(`store=${STORE}&user=${users[1]}&k=20`);
    const a2 = await recommend(`store=${STORE}&user=${users[0]}&k=20`);
    for (const r of [a1, b, a2]) expect(r.res.headers.get("x-vitrine-cache")).toBe("BYPASS");
    expect(ids(b.body)).not.toEqual(ids(a1.body));
    expect(ids(a2.body)).toEqual(ids(a1.body));
  });

  it("a new user gets the cold-start answer (trending), shared through the cache with other new users", async () => {
    const first = await recommend(`store=${STORE}&user=new-user-1&k=10`);
    expect(first.body.items).toHaveLength(10);
    expect(first.body.personalised).toBe(false);
    expect(first.body.items.every((i) => i.sources.includes("trending"))).toBe(true);
    let second: Response | undefined;
    for (let i = 0; i < 20; i++) {
      second = await get(`/v1/recommend?store=${STORE}&user=new-user-2&k=10`);
      if (second.headers.get("x-vitrine-cache") === "HIT") break;
      await second.arrayBuffer();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(second!.headers.get("x-vitrine-cache")).toBe("HIT");
    expect(ids((await second!.json()) as RecommendResponseBody)).toEqual(ids(first.body));
    const anonymous = await recommend(`store=${STORE}&k=10`);
    expect(anonymous.res.headers.get("x-vitrine-cache")).toBe("HIT");
    expect(anonymous.body.mode).toBe("trending");
  });

  it("item mode: bought-together items for a product page, never the page item itself", async () => {
    const page = Object.entries(fx.tables.copurchase).sort((a, b) => b[1].length - a[1].length)[0]![0];
    const { body } = await recommend(`store=${STORE}&item=${page}&k=10`);
    expect(body.mode).toBe("item");
    expect(body.items).toHaveLength(10);
    expect(ids(body)).not.toContain(page);
    const partners = new Set(fx.tables.copurchase[page]!.map(([id]) => id));
    expect(body.items.some((i) => partners.has(i.id) && i.sources.includes("copurchase"))).toBe(true);
  });

  it("cart mode: complements for a basket, personalised with a user", async () => {
    const cart = Object.keys(fx.tables.copurchase).slice(0, 3);
    const anon = await recommend(`store=${STORE}&cart=${cart.join(",")}&k=10`);
    expect(anon.body.mode).toBe("cart");
    expect(ids(anon.body).some((id) => cart.includes(id))).toBe(false);
    expect(anon.body.items.some((i) => i.sources.includes("copurchase"))).toBe(true);
    const mine = await recommend(`store=${STORE}&user=${users[0]}&cart=${cart.join(",")}&k=10`);
    expect(mine.body.mode).toBe("user+cart");
    expect(mine.body.personalised).toBe(true);
    expect(mine.res.headers.get("x-vitrine-cache")).toBe("BYPASS");
    expect(ids(mine.body).some((id) => cart.includes(id))).toBe(false);
  });

  it("stores are isolated: each answers with its own products only", async () => {
    const retail = await recommend(`store=${STORE}&user=${users[0]}&k=20`);
    const other = await recommend(`store=${OTHER}&user=${users[0]}&k=20`);
    expect(ids(other.body).length).toBe(20);
    expect(ids(other.body).every((id) => id.startsWith("b-"))).toBe(true);
    expect(ids(retail.body).some((id) => id.startsWith("b-"))).toBe(false);
    // a page item of another store seeds nothing here
    const cross = await recommend(`store=${OTHER}&item=${ids(retail.body)[0]}&k=5`);
    expect(ids(cross.body).every((id) => id.startsWith("b-"))).toBe(true);
    // the default store (esci) has no recommendation tables: an empty answer, not an error
    const esci = await recommend(`user=${users[0]}&k=20`);
    expect(esci.body.store).toBe("esci");
    expect(esci.body.items).toEqual([]);
  });

  it("never recommends a product that is out of stock or deleted, and the next answer already knows", async () => {
    const admin = (path: string, method: string, body?: unknown) =>
      SELF.fetch(`${BASE}${path}`, {
        method,
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const before = await recommend(`store=${OTHER}&k=10`); // anonymous: the cached, shared answer
    const [gone, outOfStock] = ids(before.body);
    expect((await admin(`/admin/stores/${OTHER}/products/${outOfStock}`, "PATCH", { available: false })).status).toBe(
      200,
    );
    expect((await admin(`/admin/stores/${OTHER}/products/${gone}`, "DELETE")).status).toBe(200);
    const after = await recommend(`store=${OTHER}&k=10`);
    expect(after.res.headers.get("x-vitrine-cache")).toBe("MISS");
    expect(ids(after.body)).toHaveLength(10);
    expect(ids(after.body)).not.toContain(gone);
    expect(ids(after.body)).not.toContain(outOfStock);
    const personal = await recommend(`store=${OTHER}&user=${users[0]}&k=50`);
    expect(ids(personal.body).some((id) => id === gone || id === outOfStock)).toBe(false);
  });
});
