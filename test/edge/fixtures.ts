/**
 * A small catalog inserted through the real schema (the FTS5 triggers index it), with the token columns the catalog
 * build precomputes (tokenColumns) filled as the loader fills them.
 */
import { env } from "cloudflare:test";
import { invalidateExperimentConfig } from "../../edge/experiments/config";
import { flushNow } from "../../edge/metrics/collector";
import type { Bindings } from "../../edge/env";
import type { ProductRow } from "../../edge/catalog/product";
import { ensureStoreIndex } from "../../edge/catalog/store-index";
import { tokenColumns, type TokenColumns } from "../../edge/search/features";

/** A products row without the token columns (computed on insert); available unless it says otherwise. */
export type FixtureProduct = Omit<ProductRow, keyof TokenColumns | "available"> & { available?: number };

const colours = ["red", "blue", "black", "white", "green"];
const kinds = ["running shoes", "rain jacket", "coffee mug", "phone case", "desk lamp", "yoga mat"];
const brands = ["Acme", "Northwind", "Globex", "Initech"];

export const FIXTURE_PRODUCTS: FixtureProduct[] = Array.from({ length: 60 }, (_, i) => {
  const colour = colours[i % colours.length]!;
  const kind = kinds[i % kinds.length]!;
  const brand = brands[i % brands.length]!;
  return {
    id: `B0FIX${String(i).padStart(5, "0")}`,
    title: `${brand} ${colour} ${kind} model ${i}`,
    brand,
    color: colour,
    bullets: `Durable ${kind} in ${colour}. ${"Long bullet text. ".repeat(i % 3 === 0 ? 120 : 2)}`,
    description: `A ${colour} ${kind} from ${brand}.`,
    category: `Home > ${kind}`,
    price: i % 7 === 0 ? null : 5 + i * 1.5,
    rating: i % 5 === 0 ? null : 3 + (i % 3) * 0.5,
    rating_count: i % 4 === 0 ? null : i * 10,
    is_book: 0,
  };
});

/** Inserts `products` into `store` (default: the ESCI store) with rowids from `firstRowid`. */
export async function insertFixtureProducts(
  db: D1Database,
  products: FixtureProduct[] = FIXTURE_PRODUCTS,
  { store = "esci", firstRowid = 1 }: { store?: string; firstRowid?: number } = {},
): Promise<void> {
  await ensureStoreIndex(db, store);
  const stmt = db.prepare(
    `INSERT OR REPLACE INTO products (rowid, id, title, brand, color, bullets, description, category, price, rating, rating_count, is_book,
       title_terms, brand_terms, color_terms, category_terms, text_terms, title_unique_tokens, bullets_tokens, description_tokens, store, available)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)`,
  );
  await db.batch(
    products.map((p, i) => {
      const t = tokenColumns(p);
      return stmt.bind(
        firstRowid + i,
        p.id,
        p.title,
        p.brand,
        p.color,
        p.bullets,
        p.description,
        p.category,
        p.price,
        p.rating,
        p.rating_count,
        p.is_book,
        t.title_terms,
        t.brand_terms,
        t.color_terms,
        t.category_terms,
        t.text_terms,
        t.title_unique_tokens,
        t.bullets_tokens,
        t.description_tokens,
        store,
        p.available ?? 1,
      );
    }),
  );
}

/** Online Retail-style products (StockCode ids, descriptions as titles) for the `online-retail` store. */
export const RETAIL_PRODUCTS: FixtureProduct[] = ["red", "blue", "black"].flatMap((colour, i) =>
  ["lunch bag", "coffee mug", "rain jacket"].map((kind, j) => ({
    id: `2${i}${j}0${i}${j === 0 ? "A" : ""}`,
    title: `${colour.toUpperCase()} RETRO ${kind.toUpperCase()}`,
    brand: "",
    color: "",
    bullets: "",
    description: "",
    category: "",
    price: 1.65 + j,
    rating: null,
    rating_count: null,
    is_book: 0,
  })),
);

/**
 * A fetch that answers InvokeEndpoint for the two GPU regions at `primary` / `secondary` with one score per document
 * (CONTRACTS.md C4 response) and passes every other request to the real fetch; `onCall` sees which region was asked.
 */
/**
 * The env of a drill test: both GPU regions at the stand-in's URLs (gpuRegionsStandIn), a deadline a CPU can meet, a
 * quick breaker cool-down so recovery fits a test, the fixture catalogue's probe query and a 5 s RTO.
 */
export function drillTestEnv(primary: string, secondary: string, extra: Partial<Bindings> = {}): Bindings {
  return {
    ...env,
    GPU_ENDPOINT_URL: primary,
    GPU_SECONDARY_ENDPOINT_URL: secondary,
    GPU_DEADLINE_MS: "2000",
    GPU_BREAKER_COOLDOWN_MS: "500",
    DRILL_PROBE_QUERY: "coffee mug",
    DRILL_RTO_MS: "5000",
    // the guard settles at the deadline; a test machine under load may fire its timers late (production keeps 50)
    DRILL_DEADLINE_SLACK_MS: "250",
    ...extra,
  };
}

export function gpuRegionsStandIn(
  primary: string,
  secondary: string,
  onCall: (role: "primary" | "secondary") => void = () => {},
): typeof fetch {
  return regionsStandIn({ primary, secondary }, { onCall: (role) => onCall(role as "primary" | "secondary") });
}

/** What a regionsStandIn does besides answering: hear each call, refuse the regions listed down, delay answers. */
export interface StandInControl {
  onCall?: (region: string, req: Request) => void;
  /** regions whose calls fail as a lost connection */
  down?: Set<string>;
  /** ms each region holds its answer (default 0) */
  delayMs?: Record<string, number>;
}

/**
 * Stand-ins for GPU regions (our GPU tier's SageMaker container contract: scores per document / candidate, and the
 * compute time it reports), told apart by URL origin, reached through the real SageMaker client; any other URL goes
 * to the real fetch.
 */
export function regionsStandIn(urls: Record<string, string>, control: StandInControl = {}): typeof fetch {
  const realFetch = globalThis.fetch;
  const byOrigin = new Map(Object.entries(urls).map(([region, url]) => [new URL(url).origin, region]));
  return async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = new Request(input, init);
    const region = byOrigin.get(new URL(req.url).origin);
    if (region === undefined) return realFetch(input, init);
    control.onCall?.(region, req);
    if (control.down?.has(region)) throw new TypeError("Network connection lost.");
    const delay = control.delayMs?.[region] ?? 0;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    // a search re-rank scores its documents, a recommendation re-rank its candidates (CONTRACTS.md C4 / C5b)
    const body = (await req.json()) as { documents?: { id: string }[]; candidates?: string[]; model?: string };
    const scores = (body.documents ?? body.candidates ?? []).map((_, i) => 1 / (i + 1));
    const timing_ms = { queue: 0, inference: 3, total: 4 };
    const answer = { model: body.model ?? "heavy", scores, device: "cpu", timing_ms };
    return new Response(JSON.stringify(answer), { headers: { "content-type": "application/json" } });
  };
}

/**
 * A clean slate for release and experiment tests: the isolate's pending metrics flushed, its experiment config
 * dropped, and every experiment, release, rollup and alert row deleted.
 */
export async function resetReleaseState(): Promise<void> {
  await flushNow(env.DB);
  invalidateExperimentConfig();
  await env.DB.batch(
    [
      "experiment_changes",
      "release_decisions",
      "releases",
      "experiment_variants",
      "experiments",
      "metrics_requests",
      "metrics_latency",
      "metrics_degraded",
      "metrics_feedback",
      "alerts",
    ].map((t) => env.DB.prepare(`DELETE FROM ${t}`)),
  );
}
