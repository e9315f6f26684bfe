/**
 * A refused release (the offline gate said no — a scheduled retrain's worse candidate) raises a notice, never a page,
 * and leaves production's traffic as it was; the next promotion of the same store and kind resolves the notice.
 * In workerd against the real local D1, through the admin API as `npm run retrain` calls it.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { app } from "../../edge/app";
import { DEFAULT_HEAVY_MODEL, DEFAULT_LIGHT_MODEL } from "../../edge/generated/models";
import { listAlerts } from "../../edge/metrics/alerts";
import { flushNow, recordRequest } from "../../edge/metrics/collector";
import { tickRelease } from "../../edge/releases/tick";
import { resetReleaseState } from "./fixtures";

const CANDIDATE = "heavy-retrained-v2";

function admin(path: string, body?: unknown): Promise<Response> {
  const headers = new Headers({ authorization: `Bearer ${env.ADMIN_TOKEN}` });
  if (body) headers.set("content-type", "application/json");
  const init: RequestInit = body ? { method: "POST", headers, body: JSON.stringify(body) } : { headers };
  return Promise.resolve(app.fetch(new Request(`http://vitrine.test${path}`, init), env, createExecutionContext()));
}

const release = (over: Record<string, unknown> = {}) => ({
  kind: "heavy",
  version: CANDIDATE,
  steps: [50, 100],
  stepSeconds: 30,
  gateReport: { decision: "refuse", reason: "mean nDCG@10 worse by 0.0412 (margin 0.02)" },
  startedBy: "retrain ci@test",
  ...over,
});

async function live(variant: string, heavyModel: string, n: number): Promise<void> {
  const ctx = createExecutionContext();
  for (let i = 0; i < n; i++)
    recordRequest(env, ctx, {
      route: "/v1/search",
      variant,
      lightModel: DEFAULT_LIGHT_MODEL,
      heavyModel,
      colo: "TEST",
      store: "esci",
      status: 200,
      cache: "MISS",
      stages: { retrieval: 5, light: 8, gpu: 40, total: 60 },
    });
  await waitOnExecutionContext(ctx);
  await flushNow(env.DB);
}

describe("a refused release is a notice", () => {
  beforeEach(resetReleaseState);

  it("raises release-refused:<store>:<kind> as a notice, keeps traffic, shows the gate's decision in /admin/releases", async () => {
    const res = await admin("/admin/releases", release({ status: "refused", reason: "offline gate: worse" }));
    expect(res.status).toBe(201);
    const { id } = await res.json<{ id: string }>();
    const alerts = await listAlerts(env.DB);
    expect(alerts.map((a) => [a.id, a.severity, a.state, a.kind])).toEqual([
      ["release-refused:esci:heavy", "notice", "firing", "release"],
    ]);
    expect(alerts[0]!.summary).toContain(id);
    expect(alerts.some((a) => a.severity === "page")).toBe(false);
    const { results } = await env.DB.prepare("SELECT count(*) AS n FROM experiment_variants").all<{ n: number }>();
    expect(results[0]!.n).toBe(0); // production's traffic untouched: no canary variant
    const list = await (
      await admin("/admin/releases")
    ).json<{
      releases: Array<{ id: string; status: string; startedBy: string; gateReport: { decision: string } }>;
    }>();
    expect(list.releases).toMatchObject([
      { id, status: "refused", startedBy: "retrain ci@test", gateReport: { decision: "refuse" } },
    ]);
    // a second refusal of the same store and kind keeps one notice (dedup by id), another store's is its own
    await admin("/admin/releases", release({ status: "refused", version: "heavy-retrained-v3" }));
    await admin("/admin/releases", release({ status: "refused", store: "online-retail", kind: "recs-light" }));
    expect((await listAlerts(env.DB)).map((a) => a.id).sort()).toEqual([
      "release-refused:esci:heavy",
      "release-refused:online-retail:recs-light",
    ]);
  });

  it("the next promotion of that store and kind resolves the notice", async () => {
    await admin("/admin/releases", release({ status: "refused" }));
    const res = await admin("/admin/releases", release({ gateReport: { decision: "pass" } }));
    const { id } = await res.json<{ id: string }>();
    await env.DB.prepare("UPDATE releases SET step_started_at = ?, created_at = ? WHERE id = ?")
      .bind(Date.now() - 60_000, Date.now() - 60_000, id)
      .run();
    await live(id, CANDIDATE, 60);
    await live("default", DEFAULT_HEAVY_MODEL, 60);
    expect(await tickRelease(env, id, Date.now() + 31_000)).toMatchObject({ decision: "promoted" });
    const [notice] = await listAlerts(env.DB);
    expect(notice).toMatchObject({ id: "release-refused:esci:heavy", severity: "notice", state: "resolved" });
  });
});
