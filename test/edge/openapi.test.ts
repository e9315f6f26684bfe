/**
 * GET /openapi.json (edge/api/openapi.ts): an OpenAPI 3.1 document generated from the routes' own @hono/zod-openapi
 * declarations that describes every route the app mounts (compared with Hono's app.routes, so a route mounted
 * without a declaration — a plain app.get — fails here) with its error responses. The document is also validated against the OpenAPI 3.1 meta-schema and
 * fuzzed by schemathesis in test/integration/fuzz.test.mjs.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../edge/app";

/** Hono's `:id` → OpenAPI's `{id}`. */
const openApiPath = (honoPath: string): string => honoPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
  security?: unknown[];
  requestBody?: unknown;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { required?: string[] }> };
}

async function document(): Promise<Document> {
  const res = await SELF.fetch("http://vitrine.test/openapi.json");
  expect(res.status).toBe(200);
  return (await res.json()) as Document;
}

describe("GET /openapi.json", () => {
  it("is OpenAPI 3.1 and describes exactly the routes the app mounts", async () => {
    const doc = await document();
    expect(doc.openapi).toBe("3.1.0");
    const mounted = new Set(
      app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path)}`),
    );
    const described = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)),
    );
    expect([...mounted].filter((r) => !described.has(r))).toEqual([]); // a route without a description
    expect([...described].filter((r) => !mounted.has(r))).toEqual([]); // a description without a route
    expect(mounted.size).toBeGreaterThanOrEqual(14);
  });

  it("documents the error responses and their JSON shapes", async () => {
    const doc = await document();
    const op = (path: string, method: string): Operation => doc.paths[path]![method]!;
    const codes = (o: Operation): string[] => Object.keys(o.responses).sort();
    expect(codes(op("/v1/search", "get"))).toEqual(["200", "400", "404", "405", "429"]); // 404: unknown store
    expect(codes(op("/v1/rerank", "post"))).toEqual(["200", "400", "404", "405", "413", "429"]); // 404: unknown store
    expect(codes(op("/admin/releases", "post"))).toEqual(["201", "400", "401", "404", "405", "409", "413", "422"]);
    expect(codes(op("/v1/events", "post"))).toEqual(["202", "400", "404", "405", "413", "429", "503"]);
    expect(codes(op("/admin/stores/{store}/users/{user}", "delete"))).toEqual([
      "200",
      "400",
      "401",
      "404",
      "405",
      "503",
    ]);
    expect(codes(op("/admin/drills/{id}", "get"))).toEqual(["200", "400", "401", "404", "405"]);
    expect(op("/admin/metrics", "get").security).toEqual([{ adminBearer: [] }]);
    expect(op("/v1/search", "get").security).toBeUndefined();
    expect(codes(op("/dashboard/login", "post"))).toContain("429");
    for (const name of [
      "ValidationError",
      "NotFound",
      "MethodNotAllowed",
      "PayloadTooLarge",
      "RateLimited",
      "Unauthorized",
      "Unavailable",
    ])
      expect(doc.components.schemas[name]?.required).toEqual(expect.arrayContaining(["error", "message"]));
    // the 400's issues name the field; the 429 says when to retry
    expect(doc.components.schemas.ValidationError!.required).toContain("issues");
    expect(doc.components.schemas.RateLimited!.required).toContain("retryAfterS");
  });

  it("takes its request schemas from the zod contracts (bounds included)", async () => {
    const doc = await document();
    const search = doc.paths["/v1/search"]!.get! as unknown as {
      parameters: { name: string; in: string; required?: boolean; schema: { maxLength?: number; maximum?: number } }[];
    };
    const q = search.parameters.find((p) => p.name === "q")!;
    expect(q).toMatchObject({ in: "query", required: true, schema: { maxLength: 200 } });
    expect(search.parameters.find((p) => p.name === "k")!.schema.maximum).toBe(100);
    // rerank names its store in the body, with the same bounds as search's query parameter
    const rerank = doc.paths["/v1/rerank"]!.post! as unknown as {
      requestBody: { content: Record<string, { schema: { properties: Record<string, { maxLength?: number }> } }> };
    };
    const body = rerank.requestBody.content["application/json"]!.schema;
    expect(body.properties.store).toMatchObject({ type: "string", minLength: 1, maxLength: 64 });
    expect(search.parameters.find((p) => p.name === "store")!.schema.maxLength).toBe(64);
  });
});
