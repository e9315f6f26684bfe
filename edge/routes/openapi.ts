/**
 * GET /openapi.json — the API description (OpenAPI 3.1) generated from the routes' zod contracts
 * (edge/openapi/registry.ts). Built once per isolate, after every route module has registered its routes.
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env";
import { describeRoute, json, openApiDocument } from "../openapi/registry";

describeRoute({
  method: "get",
  path: "/openapi.json",
  access: "page",
  summary: "This API description (OpenAPI 3.1)",
  responses: { 200: json("the OpenAPI document", z.object({ openapi: z.string() }).passthrough()) },
});

let document: ReturnType<typeof openApiDocument> | undefined;

export const openapi = new Hono<AppEnv>();

openapi.get("/openapi.json", (c) => {
  document ??= openApiDocument();
  return c.json(document);
});
