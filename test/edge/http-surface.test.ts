/**
 * The HTTP surface's guard rails through the whole worker (SELF): CORS for the configured storefront origins
 * (ALLOWED_ORIGINS in test/vitest.config.ts) on /v1/* only, 405 + Allow for a wrong method on a known path, 404 for
 * unknown paths, 413 for an oversized body. Requests here stay clear of the ranking cascade (400s, events, admin).
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

const BASE = "http://vitrine.test";
const SHOP = "https://shop.example.com";

const call = (path: string, init?: RequestInit): Promise<Response> => SELF.fetch(`${BASE}${path}`, init);

function preflight(path: string, origin: string, method = "GET"): Promise<Response> {
  return call(path, {
    method: "OPTIONS",
    headers: {
      Origin: origin,
      "Access-Control-Request-Method": method,
      "Access-Control-Request-Headers": "content-type",
    },
  });
}

const event = {
  type: "impression",
  requestId: "req-12345678",
  productId: "p1",
  position: 0,
  variant: "control",
  model: "m",
};

describe("CORS", () => {
  it("answers a storefront preflight for /v1/search and /v1/rerank", async () => {
    for (const [path, method] of [
      ["/v1/search?q=belt", "GET"],
      ["/v1/rerank", "POST"],
      ["/v1/events", "POST"],
    ] as const) {
      const res = await preflight(path, SHOP, method);
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe(SHOP);
      expect(res.headers.get("access-control-allow-methods")).toContain(method);
      expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("content-type");
      expect(res.headers.get("access-control-max-age")).toBe("600");
      expect(res.headers.get("access-control-allow-credentials")).toBeNull();
      expect(res.headers.get("vary")).toContain("Origin");
    }
    const local = await preflight("/v1/search?q=belt", "http://localhost:3000");
    expect(local.headers.get("access-control-allow-origin")).toBe("http://localhost:3000");
  });

  it("tags actual responses (errors included) for an allowed origin and exposes the useful headers", async () => {
    const ok = await call("/v1/events", {
      method: "POST",
      headers: { Origin: SHOP, "content-type": "application/json" },
      body: JSON.stringify({ events: [event] }),
    });
    expect(ok.status).toBe(202);
    expect(ok.headers.get("access-control-allow-origin")).toBe(SHOP);
    expect(ok.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("x-request-id");
    const bad = await call("/v1/search", { headers: { Origin: SHOP } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("access-control-allow-origin")).toBe(SHOP);
  });

  it("gives an unlisted origin no Access-Control-Allow-Origin", async () => {
    for (const origin of [
      "https://evil.example.com",
      "https://shop.example.com.evil.net",
      "http://shop.example.com",
      "null",
    ]) {
      const pre = await preflight("/v1/search?q=belt", origin);
      expect(pre.headers.get("access-control-allow-origin")).toBeNull();
      const res = await call("/v1/search", { headers: { Origin: origin } });
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  it("never enables CORS on the admin API, the dashboard or health", async () => {
    for (const path of [
      "/admin/metrics",
      "/admin/alerts",
      "/admin/drills",
      "/dashboard",
      "/dashboard/login",
      "/healthz",
    ]) {
      const pre = await preflight(path, SHOP, "POST");
      expect(pre.headers.get("access-control-allow-origin"), path).toBeNull();
      expect(pre.headers.get("access-control-allow-methods"), path).toBeNull();
      expect(pre.status, path).toBe(path.startsWith("/admin") ? 401 : 405); // admin auth comes first
    }
    const admin = await call("/admin/alerts", { headers: { Origin: SHOP, Authorization: "Bearer test-admin-token" } });
    expect(admin.status).toBe(200);
    expect(admin.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("405 for a wrong method, 404 for an unknown path", () => {
  it.each([
    ["PUT", "/v1/search?q=belt", "GET, HEAD"],
    ["DELETE", "/v1/search", "GET, HEAD"],
    ["POST", "/v1/search", "GET, HEAD"],
    ["GET", "/v1/rerank", "POST"],
    ["PATCH", "/v1/events", "POST"],
    ["GET", "/v1/events", "POST"],
    ["POST", "/healthz", "GET, HEAD"],
    ["GET", "/dashboard/login", "POST"],
  ])("%s %s → 405 JSON, Allow: %s", async (method, path, allow) => {
    const res = await call(path, {
      method,
      ...(method === "GET" || method === "HEAD" ? {} : { body: "{}", headers: { "content-type": "application/json" } }),
    });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe(allow);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = await res.json<{ error: string; allowed: string[]; requestId: string }>();
    expect(body.error).toBe("method_not_allowed");
    expect(body.allowed.join(", ")).toBe(allow);
    expect(body.requestId).toBe(res.headers.get("x-request-id"));
  });

  it("an admin route with a wrong method answers 405 once authenticated (401 before)", async () => {
    expect((await call("/admin/alerts", { method: "DELETE" })).status).toBe(401);
    const res = await call("/admin/alerts", {
      method: "DELETE",
      headers: { Authorization: "Bearer test-admin-token" },
    });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD");
  });

  it("keeps 404 JSON for unknown paths, whatever the method", async () => {
    for (const method of ["GET", "PUT", "POST"]) {
      const res = await call("/v1/nothing-here", { method });
      expect(res.status).toBe(404);
      expect((await res.json<{ error: string }>()).error).toBe("not_found");
      expect(res.headers.get("allow")).toBeNull();
    }
  });
});

describe("request body size", () => {
  const limit = 524_288; // MAX_BODY_BYTES default (edge/config.ts)

  it("refuses a body above MAX_BODY_BYTES with 413 JSON, by Content-Length", async () => {
    const body = JSON.stringify({ events: [event], pad: "x".repeat(limit) });
    const res = await call("/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json", Origin: SHOP },
      body,
    });
    expect(res.status).toBe(413);
    const json = await res.json<{ error: string; limit: number }>();
    expect(json).toMatchObject({ error: "payload_too_large", limit });
    expect(res.headers.get("access-control-allow-origin")).toBe(SHOP); // the storefront can read why
  });

  it("accepts a body under the limit (a full 500-event batch)", async () => {
    const events = Array.from({ length: 500 }, (_, i) => ({ ...event, position: i, productId: `p${i}` }));
    const res = await call("/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ accepted: 500, pending: 0 });
  });

  it("limits the admin API and the login form too", async () => {
    const res = await call("/dashboard/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `token=${"x".repeat(limit)}`,
    });
    expect(res.status).toBe(413);
  });
});
