/**
 * The experiments API in workerd against the real local D1 (issue 25): validation (models this edge can serve,
 * positive weights, one active experiment per store and surface, 409 while a release's canary runs there), the
 * audit trail (actor, before/after), the config cache picking a change up, and per-variant figures with their
 * intervals — read from the rollups that feedback counted through the collector fills.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { app } from "../../edge/app";
import { getExperimentConfig } from "../../edge/experiments/config";
import { countFeedback, flushNow, recordRequest } from "../../edge/metrics/collector";
import { DEFAULT_HEAVY_MODEL, DEFAULT_LIGHT_MODEL, LIGHT_MODELS } from "../../edge/generated/models";
import { resetReleaseState } from "./fixtures";

const RETAIL = "online-retail";

function admin(path: string, init: RequestInit = {}, actor?: string): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${env.ADMIN_TOKEN}`);
  if (init.body) headers.set("content-type", "application/json");
  if (actor) headers.set("x-vitrine-actor", actor);
  return Promise.resolve(
    app.fetch(new Request(`http://vitrine.test${path}`, { ...init, headers }), env, createExecutionContext()),
  );
}

const post = (body: unknown, actor?: string) =>
  admin("/admin/experiments", { method: "POST", body: JSON.stringify(body) }, actor);
const patch = (id: string, body: unknown, actor?: string) =>
  admin(`/admin/experiments/${encodeURIComponent(id)}`, { method: "PATCH", body: JSON.stringify(body) }, actor);

const twoArms = (over: Record<string, unknown> = {}) => ({
  store: RETAIL,
  surface: "search",
  variants: [
    { name: "control", weight: 1, lightModel: DEFAULT_LIGHT_MODEL, heavyModel: DEFAULT_HEAVY_MODEL },
    { name: "treatment", weight: 1, lightModel: DEFAULT_LIGHT_MODEL, heavyModel: DEFAULT_HEAVY_MODEL, topM: 30 },
  ],
  ...over,
});

interface Experiment {
  id: string;
  active: boolean;
  store: string;
  variants: Array<{ name: string; weight: number; topM: number | null }>;
}

async function created(body: unknown, actor?: string): Promise<Experiment> {
  const res = await post(body, actor);
  expect(res.status).toBe(201);
  return res.json<Experiment>();
}

async function errorOf(res: Response, status: number): Promise<string> {
  expect(res.status).toBe(status);
  const body = await res.json<{ error: string; message: string }>();
  expect(body.message.length).toBeGreaterThan(0);
  return body.error;
}

describe("experiments API", () => {
  beforeEach(resetReleaseState);

  it("needs the admin token and is in /openapi.json", async () => {
    const res = await app.fetch(new Request("http://vitrine.test/admin/experiments"), env, createExecutionContext());
    expect(res.status).toBe(401);
    const doc = await (
      await app.fetch(new Request("http://vitrine.test/openapi.json"), env, createExecutionContext())
    ).json<{ paths: Record<string, Record<string, unknown>> }>();
    expect(Object.keys(doc.paths["/admin/experiments"] ?? {}).sort()).toEqual(["get", "post"]);
    expect(Object.keys(doc.paths["/admin/experiments/{id}"] ?? {})).toEqual(["patch"]);
    expect(doc.paths["/admin/experiments/{id}/changes"]).toHaveProperty("get");
  });

  it("validates: 400 on weights ≤ 0, duplicate names, unknown fields; 404 unknown store; 422 unknown models", async () => {
    const zero = twoArms({ variants: [{ name: "a", weight: 0 }] });
    expect(await errorOf(await post(zero), 400)).toBe("invalid_request");
    const dup = twoArms({
      variants: [
        { name: "a", weight: 1 },
        { name: "a", weight: 2 },
      ],
    });
    expect(await errorOf(await post(dup), 400)).toBe("invalid_request");
    expect(await errorOf(await post({ ...twoArms(), colour: "red" }), 400)).toBe("invalid_request");
    expect(await errorOf(await post(twoArms({ store: "no-such-store" })), 404)).toBe("unknown_store");

    const badLight = await post(twoArms({ variants: [{ name: "a", weight: 1, lightModel: "light-nope" }] }));
    expect(badLight.status).toBe(422);
    const light = await badLight.json<{ error: string; message: string }>();
    expect(light.error).toBe("unknown_model");
    expect(light.message).toContain("light-nope");
    expect(light.message).toContain(Object.keys(LIGHT_MODELS)[0]!);
    const badHeavy = await post(twoArms({ variants: [{ name: "a", weight: 1, heavyModel: "heavy-never-deployed" }] }));
    expect(await errorOf(badHeavy, 422)).toBe("unknown_model");
    // a heavy version D1 knows was deployed (a release's candidate) is known; a refused one is not
    await env.DB.prepare(
      `INSERT INTO releases (id, kind, store, surface, version, status, steps, step_seconds, gate_report, started_by,
        created_at, updated_at) VALUES ('rel-a', 'heavy', 'esci', 'search', 'heavy-deployed', 'aborted', '[10]', 30, '{}',
        'test', 1, 1), ('rel-b', 'heavy', 'esci', 'search', 'heavy-refused', 'refused', '[10]', 30, '{}', 'test', 1, 1)`,
    ).run();
    expect(
      await errorOf(await post(twoArms({ variants: [{ name: "a", weight: 1, heavyModel: "heavy-refused" }] })), 422),
    ).toBe("unknown_model");
    await created(twoArms({ variants: [{ name: "a", weight: 1, heavyModel: "heavy-deployed" }] }));
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM experiment_changes").first<{ n: number }>())?.n).toBe(1);
  });

  it("creates, reweights and ends an experiment; the config cache follows; every change is audited", async () => {
    const scope = { store: RETAIL, surface: "search" } as const;
    expect((await getExperimentConfig(env, scope)).builtin).toBe(true);
    const exp = await created(twoArms({ reason: "does a smaller cascade hurt?" }), "alice");
    expect(exp.active).toBe(true);
    expect(exp.variants.map((v) => [v.name, v.weight, v.topM])).toEqual([
      ["control", 1, null],
      ["treatment", 1, 30],
    ]);
    // this isolate serves it at once
    const cfg = await getExperimentConfig(env, scope);
    expect(cfg.experimentId).toBe(exp.id);
    expect(cfg.variants.find((v) => v.name === "treatment")?.topM).toBe(30);
    // the other store's surface is untouched
    expect((await getExperimentConfig(env, { store: "esci", surface: "search" })).builtin).toBe(true);

    // one active per store and surface
    expect(await errorOf(await post(twoArms()), 409)).toBe("experiment_active");
    // the other surface of the store is free
    await created(twoArms({ surface: "recommend", variants: [{ name: "recs-a", weight: 1 }] }));

    const re = await patch(exp.id, { weights: { treatment: 3 } }, "bob");
    expect(re.status).toBe(200);
    expect((await re.json<Experiment>()).variants.find((v) => v.name === "treatment")?.weight).toBe(3);
    expect((await getExperimentConfig(env, scope)).variants.find((v) => v.name === "treatment")?.weight).toBe(3);
    expect(await errorOf(await patch(exp.id, { weights: { nobody: 2 } }), 422)).toBe("unknown_variant");
    expect(await errorOf(await patch(exp.id, { weights: { control: -1 } }), 400)).toBe("invalid_request");
    expect(await errorOf(await patch(exp.id, {}), 400)).toBe("invalid_request");

    const end = await patch(exp.id, { active: false, reason: "enough data" }, "carol");
    expect(end.status).toBe(200);
    expect((await end.json<Experiment>()).active).toBe(false);
    expect((await getExperimentConfig(env, scope)).builtin).toBe(true);
    expect(await errorOf(await patch(exp.id, { weights: { control: 2 } }), 409)).toBe("experiment_ended");
    expect(await errorOf(await patch("no-such-experiment", { active: false }), 404)).toBe("not_found");

    const trail = await (
      await admin(`/admin/experiments/${encodeURIComponent(exp.id)}/changes`)
    ).json<{
      changes: Array<{
        action: string;
        actor: string;
        reason: string | null;
        before: Experiment | null;
        after: Experiment;
      }>;
    }>();
    expect(trail.changes.map((c) => [c.action, c.actor])).toEqual([
      ["create", "alice"],
      ["reweight", "bob"],
      ["end", "carol"],
    ]);
    expect(trail.changes[0]!.before).toBeNull();
    expect(trail.changes[0]!.reason).toBe("does a smaller cascade hurt?");
    expect(trail.changes[1]!.before?.variants.find((v) => v.name === "treatment")?.weight).toBe(1);
    expect(trail.changes[1]!.after.variants.find((v) => v.name === "treatment")?.weight).toBe(3);
    expect([trail.changes[2]!.before?.active, trail.changes[2]!.after.active]).toEqual([true, false]);

    // ended: a new experiment can start; the list filters by active and store
    const next = await created(twoArms(), "alice");
    const list = await (
      await admin(`/admin/experiments?store=${RETAIL}&surface=search`)
    ).json<{ experiments: Experiment[] }>();
    expect(list.experiments.map((e) => [e.id, e.active])).toEqual([
      [next.id, true],
      [exp.id, false],
    ]);
    const ended = await (await admin(`/admin/experiments?active=false`)).json<{ experiments: Experiment[] }>();
    expect(ended.experiments.map((e) => e.id)).toEqual([exp.id]);
    expect(await errorOf(await admin("/admin/experiments?store=nowhere"), 404)).toBe("unknown_store");
  });

  it("refuses (409) to create or change an experiment while a release's canary runs on its store's surface", async () => {
    const exp = await created(twoArms());
    const rel = await admin("/admin/releases", {
      method: "POST",
      body: JSON.stringify({
        kind: "heavy",
        store: RETAIL,
        version: "heavy-candidate-v9",
        steps: [10, 50],
        stepSeconds: 30,
        gateReport: {},
        startedBy: "test",
      }),
    });
    expect(rel.status).toBe(201);
    const { id: releaseId } = await rel.json<{ id: string }>();
    const reweight = await patch(exp.id, { weights: { treatment: 5 } });
    expect(reweight.status).toBe(409);
    const body = await reweight.json<{ error: string; message: string }>();
    expect(body.error).toBe("release_in_progress");
    expect(body.message).toContain(releaseId);
    expect(await errorOf(await patch(exp.id, { active: false }), 409)).toBe("release_in_progress");
    // the canary and the arms kept their weights
    const { results } = await env.DB.prepare("SELECT name, weight FROM experiment_variants WHERE experiment_id = ?")
      .bind(exp.id)
      .all<{ name: string; weight: number }>();
    expect(Object.fromEntries(results.map((r) => [r.name, r.weight]))).toEqual({
      control: 1,
      treatment: 1,
      [releaseId]: 0.1,
    });
    // on the esci store nothing runs: an experiment there is fine
    await created(twoArms({ store: "esci" }));
    // the abort frees the surface again
    expect(
      (await admin(`/admin/releases/${releaseId}/abort`, { method: "POST", body: JSON.stringify({ reason: "t" }) }))
        .status,
    ).toBe(200);
    expect((await patch(exp.id, { weights: { treatment: 5 } })).status).toBe(200);
    // the aborted canary's variant stays at 0 %: it is no arm to revive
    expect(await errorOf(await patch(exp.id, { weights: { [releaseId]: 0.5 } }), 422)).toBe("canary_variant");
  });

  it("lists per-variant requests, CTR and conversion with Wilson intervals, n/a where impressions cannot carry them", async () => {
    const exp = await created(twoArms());
    const ctx = createExecutionContext();
    for (const [variant, n] of [
      ["control", 40],
      ["treatment", 10],
    ] as const)
      for (let i = 0; i < n; i++)
        recordRequest(env, ctx, {
          route: "/v1/search",
          variant,
          lightModel: DEFAULT_LIGHT_MODEL,
          heavyModel: DEFAULT_HEAVY_MODEL,
          colo: "TEST",
          store: RETAIL,
          status: 200,
          cache: "MISS",
          stages: { retrieval: 5, light: 8, gpu: 40, total: 60 },
        });
    await waitOnExecutionContext(ctx);
    const count = (type: "impression" | "click" | "purchase", variant: string, n: number) => {
      for (let i = 0; i < n; i++) countFeedback(type, { variant, model: DEFAULT_HEAVY_MODEL, store: RETAIL });
    };
    count("impression", "control", 100);
    count("click", "control", 12);
    count("purchase", "control", 3);
    // the treatment: 4 purchases over 1 impression — no conversion rate of 4
    count("impression", "treatment", 1);
    count("purchase", "treatment", 4);
    // another store's traffic under the same variant name is not this experiment's
    countFeedback("impression", { variant: "control", model: DEFAULT_HEAVY_MODEL, store: "esci" });
    await flushNow(env.DB);

    const list = await (
      await admin(`/admin/experiments?store=${RETAIL}&active=true`)
    ).json<{
      experiments: Array<{
        id: string;
        figures: Record<
          string,
          {
            requests: number;
            impressions: number;
            ctr: {
              rate: number | null;
              ci: [number | null, number | null];
              k: number;
              n: number;
              unsupported?: string;
            };
            conversion: { rate: number | null; k: number; n: number; unsupported?: string };
          }
        >;
      }>;
    }>();
    const f = list.experiments.find((e) => e.id === exp.id)!.figures;
    expect(f.control).toMatchObject({ requests: 40, impressions: 100, ctr: { k: 12, n: 100, rate: 0.12 } });
    const [lo, hi] = f.control!.ctr.ci;
    expect(lo!).toBeCloseTo(0.0699, 3); // Wilson 95 % of 12/100
    expect(hi!).toBeCloseTo(0.1984, 3);
    expect(f.control!.conversion).toMatchObject({ k: 3, n: 100, rate: 0.03 });
    expect(f.treatment).toMatchObject({ requests: 10, impressions: 1 });
    expect(f.treatment!.conversion).toMatchObject({ k: 4, n: 1, rate: null });
    expect(f.treatment!.conversion.unsupported).toMatch(/exceeds/);
    expect(f.treatment!.ctr.rate).toBeNull();
  });

  it("lists an experiment made outside the API (the pipeline's seed) with the last hour's figures", async () => {
    await env.DB.batch([
      env.DB.prepare(
        "INSERT INTO experiments (id, store, surface, salt, active, updated_at) VALUES ('search-default', 'esci', 'search', 's', 1, 1)",
      ),
      env.DB.prepare(
        "INSERT INTO experiment_variants (experiment_id, name, weight, light_model, heavy_model) VALUES ('search-default', 'control', 1, '', '')",
      ),
    ]);
    const ctx = createExecutionContext();
    for (let i = 0; i < 5; i++)
      recordRequest(env, ctx, {
        route: "/v1/search",
        variant: "control",
        lightModel: DEFAULT_LIGHT_MODEL,
        heavyModel: DEFAULT_HEAVY_MODEL,
        colo: "TEST",
        store: "esci",
        status: 200,
        cache: "MISS",
        stages: { retrieval: 1, light: 1, gpu: 1, total: 3 },
      });
    await waitOnExecutionContext(ctx);
    await flushNow(env.DB);
    const list = await (
      await admin("/admin/experiments?store=esci")
    ).json<{
      experiments: Array<{
        id: string;
        window: { from: number; to: number };
        figures: Record<string, { requests: number }>;
      }>;
    }>();
    const seeded = list.experiments.find((e) => e.id === "search-default")!;
    // one bucket of an hour and a minute: the rollup's bucket index stays an integer (it used to be a fraction here)
    expect(seeded.window.to - seeded.window.from).toBeGreaterThanOrEqual(3600);
    expect(seeded.figures.control?.requests).toBe(5);
  });
});
