/**
 * POST /admin/drills/reports: the report of a drill run outside the worker (the D1 restore drill) is stored as a drill
 * run, listed by GET /admin/drills like the in-worker scenarios, and a failed run raises the drill:d1_restore alert
 * that the next pass resolves. Bad input is a 400 and stores nothing; no token is a 401. Real D1 in workerd.
 */
import { createExecutionContext, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../edge/app";
import { listAlerts } from "../../edge/metrics/alerts";

function admin(path: string, init: RequestInit = {}, token: string | null = env.ADMIN_TOKEN ?? null) {
  const headers = new Headers(init.headers);
  if (token) headers.set("authorization", `Bearer ${token}`);
  if (init.body) headers.set("content-type", "application/json");
  return Promise.resolve(
    app.fetch(new Request(`http://vitrine.test${path}`, { ...init, headers }), env, createExecutionContext()),
  );
}

function report(status: "pass" | "fail", restoreMs: number) {
  const startedAt = Date.now() - restoreMs - 500;
  return {
    scenario: "d1_restore",
    status,
    trigger: "test",
    startedAt,
    finishedAt: startedAt + restoreMs + 400,
    ...(status === "fail" ? { reason: "table:products: checksum differs" } : {}),
    timeToRecoverMs: restoreMs,
    checks: [{ name: "table:products", ok: status === "pass", detail: status === "pass" ? "40 rows" : "checksum" }],
    measurements: { restoreMs, verifyMs: 120, rows: { products: 40 } },
    timeline: [
      { t: 0, event: "restore_start" },
      { t: restoreMs, event: "restored", ms: restoreMs },
    ],
  };
}

const post = (body: unknown, token?: string | null) =>
  admin("/admin/drills/reports", { method: "POST", body: JSON.stringify(body) }, token);

describe("POST /admin/drills/reports", () => {
  it("stores a failed restore drill, lists it with its restore time, raises its alert; a pass resolves it", async () => {
    const failed = await post(report("fail", 2345));
    expect(failed.status).toBe(201);
    const { id } = (await failed.json()) as { id: string };
    const list = (await (await admin("/admin/drills?limit=5")).json()) as {
      drills: { id: string; scenario: string; status: string; timeToRecoverMs: number; checks: unknown[] }[];
      scenarios: string[];
    };
    expect(list.scenarios).toContain("d1_restore");
    const run = list.drills.find((d) => d.id === id);
    expect(run).toMatchObject({ scenario: "d1_restore", status: "fail", timeToRecoverMs: 2345 });
    const detail = (await (await admin(`/admin/drills/${id}`)).json()) as { measurements: { restoreMs: number } };
    expect(detail.measurements.restoreMs).toBe(2345);
    const firing = (await listAlerts(env.DB)).find((a) => a.id === "drill:d1_restore");
    expect(firing?.state).toBe("firing");

    expect((await post(report("pass", 1800))).status).toBe(201);
    const after = (await listAlerts(env.DB)).find((a) => a.id === "drill:d1_restore");
    expect(after?.state).toBe("resolved");
  });

  it("answers 400 to a malformed report and 401 without the token, storing nothing", async () => {
    const before = ((await (await admin("/admin/drills?limit=200")).json()) as { drills: unknown[] }).drills.length;
    for (const bad of [
      { ...report("pass", 10), scenario: "primary_down" },
      { ...report("pass", 10), status: "running" },
      { ...report("pass", 10), finishedAt: 1_600_000_000_000 },
      { ...report("pass", 10), extra: 1 },
    ]) {
      const res = await post(bad);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBeTruthy();
    }
    expect((await post(report("pass", 10), null)).status).toBe(401);
    const afterCount = ((await (await admin("/admin/drills?limit=200")).json()) as { drills: unknown[] }).drills.length;
    expect(afterCount).toBe(before);
  });
});
