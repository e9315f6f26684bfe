/**
 * Rollback after promotion (issue 25) in workerd against the real local D1: POST /admin/releases/rollback puts the
 * previous production version back at once and records it as a release; successive rollbacks walk the production
 * history back; 409 with no previous version, while a canary runs, or when an experiment changed the surface after
 * the promotion. Promotions go through the same transition the cron's tick applies (applyTransition "promote").
 */
import { createExecutionContext, env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { app } from "../../edge/app";
import { getExperimentConfig, invalidateExperimentConfig } from "../../edge/experiments/config";
import { applyTransition, getRelease } from "../../edge/releases/store";
import { DEFAULT_HEAVY_MODEL } from "../../edge/generated/models";

const RETAIL = "online-retail";
const SCOPE = { store: RETAIL, surface: "search" } as const;

function admin(path: string, body?: unknown): Promise<Response> {
  const headers = new Headers({ authorization: `Bearer ${env.ADMIN_TOKEN}`, "x-vitrine-actor": "sre-on-call" });
  if (body !== undefined) headers.set("content-type", "application/json");
  return Promise.resolve(
    app.fetch(
      new Request(`http://vitrine.test${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
      env,
      createExecutionContext(),
    ),
  );
}

/** A heavy release of `version` on the retail store, promoted by the tick's own transition. */
async function promoted(version: string): Promise<string> {
  const res = await admin("/admin/releases", {
    kind: "heavy",
    store: RETAIL,
    version,
    steps: [10, 100],
    stepSeconds: 30,
    gateReport: {},
    startedBy: "test",
  });
  expect(res.status).toBe(201);
  const { id } = await res.json<{ id: string }>();
  const row = (await getRelease(env.DB, id))!;
  expect(await applyTransition(env.DB, row, { kind: "promote", figures: {} }, Date.now())).toBe(true);
  invalidateExperimentConfig();
  return id;
}

/** the heavy model the retail store's search serves to everyone now */
async function servedHeavy(): Promise<string[]> {
  const cfg = await getExperimentConfig(env, SCOPE);
  return [...new Set(cfg.variants.map((v) => v.heavyModel || DEFAULT_HEAVY_MODEL))];
}

const rollback = (over: Record<string, unknown> = {}) =>
  admin("/admin/releases/rollback", {
    store: RETAIL,
    kind: "heavy",
    reason: "p99 doubled after the promotion",
    ...over,
  });

async function refusal(res: Response, status: number): Promise<{ error: string; message: string }> {
  expect(res.status).toBe(status);
  return res.json<{ error: string; message: string }>();
}

describe("rollback after promotion", () => {
  beforeEach(async () => {
    invalidateExperimentConfig();
    await env.DB.batch(
      ["experiment_changes", "release_decisions", "releases", "experiment_variants", "experiments"].map((t) =>
        env.DB.prepare(`DELETE FROM ${t}`),
      ),
    );
  });

  it("is in /openapi.json and validates its body", async () => {
    const doc = await (await admin("/openapi.json")).json<{ paths: Record<string, unknown> }>();
    expect(doc.paths).toHaveProperty("/admin/releases/rollback");
    expect((await refusal(await rollback({ kind: "medium" }), 400)).error).toBe("invalid_request");
    expect((await refusal(await rollback({ reason: "" }), 400)).error).toBe("invalid_request");
    const wrongSurface = await refusal(await rollback({ surface: "recommend" }), 400);
    expect(wrongSurface.message).toMatch(/serves search/);
    expect((await refusal(await rollback({ store: "nowhere" }), 404)).error).toBe("unknown_store");
  });

  it("refuses (409) when nothing was promoted", async () => {
    const r = await refusal(await rollback(), 409);
    expect(r.error).toBe("no_previous_version");
    expect(r.message).toMatch(/no heavy release has been promoted/);
  });

  it("puts the previous version back at once, recorded as a release; walks the history back; then refuses", async () => {
    const v2 = await promoted("heavy-v2");
    const v3 = await promoted("heavy-v3");
    expect(await servedHeavy()).toEqual(["heavy-v3"]);

    const first = await rollback();
    expect(first.status).toBe(201);
    const r1 = await first.json<{
      id: string;
      status: string;
      version: string;
      baselineVersion: string;
      reason: string;
      from: string;
      to: string;
      startedBy: string;
      gateReport: { rollbackOf: string };
    }>();
    expect(r1).toMatchObject({
      status: "promoted",
      version: "heavy-v2",
      baselineVersion: "heavy-v3",
      from: "heavy-v3",
      to: "heavy-v2",
      startedBy: "sre-on-call",
    });
    expect(r1.reason).toBe(`rollback of ${v3}: p99 doubled after the promotion`);
    expect(r1.gateReport.rollbackOf).toBe(v3);
    // this isolate serves it at once (no canary, no step)
    expect(await servedHeavy()).toEqual(["heavy-v2"]);
    const list = await (await admin("/admin/releases")).json<{ releases: Array<{ id: string }> }>();
    expect(list.releases[0]?.id).toBe(r1.id);

    const second = await rollback({ reason: "v2 too" });
    expect(second.status).toBe(201);
    expect(await second.json()).toMatchObject({
      version: DEFAULT_HEAVY_MODEL,
      from: "heavy-v2",
      reason: `rollback of ${v2}: v2 too`,
    });
    expect(await servedHeavy()).toEqual([DEFAULT_HEAVY_MODEL]);

    const none = await refusal(await rollback(), 409);
    expect(none.error).toBe("no_previous_version");
    expect(none.message).toContain(DEFAULT_HEAVY_MODEL);
    // the esci store's history is its own
    expect((await refusal(await rollback({ store: "esci" }), 409)).error).toBe("no_previous_version");
  });

  it("refuses (409) while a canary runs on the surface, and when an experiment changed it after the promotion", async () => {
    await promoted("heavy-v2");
    const canary = await admin("/admin/releases", {
      kind: "heavy",
      store: RETAIL,
      version: "heavy-v3",
      steps: [10, 50],
      stepSeconds: 30,
      gateReport: {},
      startedBy: "test",
    });
    const { id } = await canary.json<{ id: string }>();
    const busy = await refusal(await rollback(), 409);
    expect(busy.error).toBe("release_in_progress");
    expect(busy.message).toContain(id);
    expect((await admin(`/admin/releases/${id}/abort`, { reason: "test" })).status).toBe(200);

    // an A/B test replaced the release experiment: it serves the bundled default, not heavy-v2
    const exps = await (
      await admin(`/admin/experiments?store=${RETAIL}&surface=search&active=true`)
    ).json<{
      experiments: Array<{ id: string }>;
    }>();
    const end = await app.fetch(
      new Request(`http://vitrine.test/admin/experiments/${encodeURIComponent(exps.experiments[0]!.id)}`, {
        method: "PATCH",
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ active: false }),
      }),
      env,
      createExecutionContext(),
    );
    expect(end.status).toBe(200);
    expect(
      (await admin("/admin/experiments", { store: RETAIL, surface: "search", variants: [{ name: "a", weight: 1 }] }))
        .status,
    ).toBe(201);
    const changed = await refusal(await rollback(), 409);
    expect(changed.error).toBe("not_serving");
    expect(changed.message).toMatch(/serves heavy heavy-v2 in none of its variants/);
  });

  it("with no active experiment (the surface serves the built-in default), the release experiment takes over", async () => {
    await promoted("heavy-v2");
    await promoted("heavy-v3");
    await env.DB.batch([env.DB.prepare("DELETE FROM experiment_variants"), env.DB.prepare("DELETE FROM experiments")]);
    invalidateExperimentConfig();
    expect((await getExperimentConfig(env, SCOPE)).builtin).toBe(true);
    expect((await rollback()).status).toBe(201);
    const cfg = await getExperimentConfig(env, SCOPE);
    expect(cfg.builtin).toBe(false);
    expect(cfg.variants.map((v) => [v.name, v.heavyModel, v.weight])).toEqual([["default", "heavy-v2", 1]]);
  });
});
