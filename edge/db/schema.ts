/**
 * D1 schema (drizzle). `npm run db:generate` turns changes here into SQL under migrations/.
 * The FTS5 index over products is a hand-written migration (drizzle-kit does not model virtual tables).
 * Each area keeps its tables in its own file and re-exports them from here.
 */
import { sqliteTable, text, integer, real, primaryKey, index, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * The catalogues of every store. `rowid` is explicit so each store's FTS5 external-content index
 * (edge/catalog/store-index.sql) can point at it; a product id is unique within its store (migration 0012; the same id
 * may name different products in two stores). Rows enter through one code path, the catalogue API's upsert
 * (edge/catalog/ingest.ts), or the pipeline's SQL of the same rows (vitrine_gpu.search.catalog, parity-tested).
 */
export const products = sqliteTable(
  "products",
  {
    rowid: integer("rowid").primaryKey(),
    id: text("id").notNull(),
    title: text("title").notNull(),
    brand: text("brand").notNull().default(""),
    color: text("color").notNull().default(""),
    bullets: text("bullets").notNull().default(""),
    description: text("description").notNull().default(""),
    /** category path joined with " > " */
    category: text("category").notNull().default(""),
    price: real("price"),
    rating: real("rating"),
    ratingCount: integer("rating_count"),
    isBook: integer("is_book").notNull().default(0),
    /** the store (stores.id) this product belongs to; rows loaded before migration 0006 are the ESCI catalogue */
    store: text("store").notNull().default("esci"),
    /**
     * Token columns precomputed by the catalog build (gpu-tier features.token_columns; edge tokenColumns is the twin)
     * so the edge does not tokenise product text per request. *_terms: normalised tokens joined with single spaces —
     * title/brand/color/category in order, repeats kept; text_terms the unique tokens of bullets then description in
     * order of first appearance. title_unique_tokens: distinct title tokens; bullets_tokens / description_tokens: token
     * counts. NULL (rows loaded before migration 0005) makes computeFeatures tokenise the raw text instead.
     */
    titleTerms: text("title_terms"),
    brandTerms: text("brand_terms"),
    colorTerms: text("color_terms"),
    categoryTerms: text("category_terms"),
    textTerms: text("text_terms"),
    titleUniqueTokens: integer("title_unique_tokens"),
    bulletsTokens: integer("bullets_tokens"),
    descriptionTokens: integer("description_tokens"),
    /** 0: out of stock or withdrawn — never served by search, recommend or rerank, kept for the catalogue's history */
    available: integer("available").notNull().default(1),
    /** unix ms of the write that last changed the row (the catalogue API's upsert, patch) */
    updatedAt: integer("updated_at").notNull().default(0),
  },
  // by id alone: a caller's id list (rerank, the recs product lookup) is matched before the store filter
  (t) => [uniqueIndex("products_store_id").on(t.store, t.id), index("products_by_id").on(t.id)],
);

/**
 * An experiment splits the traffic of one surface (e.g. "search") of one store between weighted variants: each
 * (store, surface) has its own active experiment (edge/experiments/config.ts). Rows written before experiments were
 * keyed by store (migration 0011) are the default store's (ESCI), as products' rows were (migration 0007).
 */
export const experiments = sqliteTable(
  "experiments",
  {
    id: text("id").primaryKey(),
    /** the store (stores.id) whose traffic the experiment splits */
    store: text("store").notNull().default("esci"),
    surface: text("surface").notNull(),
    salt: text("salt").notNull(),
    active: integer("active").notNull().default(1),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("experiments_by_scope").on(t.store, t.surface, t.active)],
);

/** A variant names the light model version, the heavy model version and the GPU target it routes to. */
export const experimentVariants = sqliteTable(
  "experiment_variants",
  {
    experimentId: text("experiment_id")
      .notNull()
      .references(() => experiments.id),
    name: text("name").notNull(),
    weight: real("weight").notNull(),
    lightModel: text("light_model").notNull(),
    heavyModel: text("heavy_model").notNull(),
    /** SageMaker production variant to pin (TargetVariant); empty = let the endpoint route */
    gpuTargetVariant: text("gpu_target_variant").notNull().default(""),
    /** cascade size sent to the GPU tier */
    topM: integer("top_m"),
    /**
     * Set on a release's canary variant (the release id; cleared when it is promoted). A canary is its own layer:
     * a unit is in it when its point under (salt, canary name) is below the canary's weight — the share of all
     * traffic — and otherwise keeps the variant the other variants' weights give it, so growing the canary only
     * moves users from the baseline into it and nobody moves between baseline variants (edge/experiments/assign.ts).
     */
    releaseId: text("release_id"),
  },
  (t) => [primaryKey({ columns: [t.experimentId, t.name] }), index("variants_by_experiment").on(t.experimentId)],
);

export * from "./schema-metrics";
export * from "./schema-drills";
export * from "./schema-recs";
export * from "./schema-releases";
export * from "./schema-events";
export * from "./schema-experiments";
export * from "./schema-resources";
