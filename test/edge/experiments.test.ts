import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { assignVariant, bucketPoint, pickVariant } from "../../edge/experiments/assign";
import {
  BUILTIN_EXPERIMENT_ID,
  getExperimentConfig,
  invalidateExperimentConfig,
  readExperimentConfig,
  type ExperimentConfig,
} from "../../edge/experiments/config";
import { DEFAULT_HEAVY_MODEL, DEFAULT_LIGHT_MODEL } from "../../edge/generated/models";

/** the default store's search traffic */
const ESCI_SEARCH = { store: "esci", surface: "search" } as const;

async function seedExperiment(weights: { control: number; treatment: number }): Promise<void> {
  await env.DB.batch([
    env.DB.prepare("DELETE FROM experiment_variants"),
    env.DB.prepare("DELETE FROM experiments"),
    env.DB.prepare(
      "INSERT INTO experiments (id, surface, salt, active, updated_at) VALUES ('search-default', 'search', 'vitrine-search-v1', 1, 0)",
    ),
    env.DB.prepare(
      "INSERT INTO experiment_variants (experiment_id, name, weight, light_model, heavy_model, gpu_target_variant, top_m) VALUES ('search-default', 'control', ?1, ?2, ?3, '', 50)",
    ).bind(weights.control, DEFAULT_LIGHT_MODEL, DEFAULT_HEAVY_MODEL),
    env.DB.prepare(
      "INSERT INTO experiment_variants (experiment_id, name, weight, light_model, heavy_model, gpu_target_variant, top_m) VALUES ('search-default', 'treatment', ?1, ?2, ?3, 'gpu-b', 30)",
    ).bind(weights.treatment, DEFAULT_LIGHT_MODEL, DEFAULT_HEAVY_MODEL),
  ]);
}

describe("experiment config", () => {
  beforeEach(async () => {
    invalidateExperimentConfig();
    await env.DB.batch([env.DB.prepare("DELETE FROM experiment_variants"), env.DB.prepare("DELETE FROM experiments")]);
  });

  it("falls back to the built-in single variant when the tables are empty", async () => {
    const cfg = await getExperimentConfig(env, ESCI_SEARCH);
    expect(cfg.builtin).toBe(true);
    expect(cfg.experimentId).toBe(BUILTIN_EXPERIMENT_ID);
    expect(cfg.variants).toEqual([
      {
        experimentId: BUILTIN_EXPERIMENT_ID,
        name: "default",
        weight: 1,
        lightModel: DEFAULT_LIGHT_MODEL,
        heavyModel: DEFAULT_HEAVY_MODEL,
      },
    ]);
  });

  it("reads the seeded experiment with its variants (drizzle)", async () => {
    await seedExperiment({ control: 0.5, treatment: 0.5 });
    const cfg = await readExperimentConfig(env.DB, ESCI_SEARCH, 0);
    expect(cfg?.salt).toBe("vitrine-search-v1");
    expect(cfg?.variants.map((v) => [v.name, v.topM, v.gpuTargetVariant])).toEqual([
      ["control", 50, undefined],
      ["treatment", 30, "gpu-b"],
    ]);
  });

  it("is read once per isolate and refreshed only after CONFIG_TTL_S", async () => {
    const first = await getExperimentConfig(env, ESCI_SEARCH); // empty tables → built-in, cached
    await seedExperiment({ control: 0.5, treatment: 0.5 });
    expect(await getExperimentConfig(env, ESCI_SEARCH)).toBe(first); // still within the TTL: no re-read
    const refreshed = await getExperimentConfig({ ...env, CONFIG_TTL_S: "0" }, ESCI_SEARCH);
    expect(refreshed.experimentId).toBe("search-default");
  });
});

describe("sticky assignment", () => {
  const config: ExperimentConfig = {
    experimentId: "search-default",
    salt: "vitrine-search-v1",
    builtin: false,
    loadedAt: 0,
    version: "search-default@0",
    checkedAt: 0,
    variants: [
      { experimentId: "search-default", name: "control", weight: 0.7, lightModel: "l", heavyModel: "h" },
      { experimentId: "search-default", name: "treatment", weight: 0.3, lightModel: "l", heavyModel: "h" },
    ],
  };

  it("gives a user the same variant every time", async () => {
    for (const user of ["u:alice", "u:bob", "a:4b8f0c1e-0000-4000-8000-000000000001"]) {
      const first = (await assignVariant(config, user)).name;
      for (let i = 0; i < 20; i++) expect((await assignVariant(config, user)).name).toBe(first);
    }
  });

  it("depends on the salt", async () => {
    const a = await bucketPoint("salt-a", "u:alice");
    const b = await bucketPoint("salt-b", "u:alice");
    expect(a).not.toBe(b);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(a).toBeLessThan(1);
  });

  it("splits 10,000 ids within 2% of the weights", async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const v = await assignVariant(config, `u:user-${i}`);
      counts.set(v.name, (counts.get(v.name) ?? 0) + 1);
    }
    expect(Math.abs((counts.get("control") ?? 0) / 10_000 - 0.7)).toBeLessThan(0.02);
    expect(Math.abs((counts.get("treatment") ?? 0) / 10_000 - 0.3)).toBeLessThan(0.02);
  });

  it("maps points onto cumulative weights", () => {
    expect(pickVariant(config.variants, 0).name).toBe("control");
    expect(pickVariant(config.variants, 0.69).name).toBe("control");
    expect(pickVariant(config.variants, 0.71).name).toBe("treatment");
    expect(pickVariant(config.variants, 0.999999).name).toBe("treatment");
  });
});
