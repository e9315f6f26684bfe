/**
 * The Hono app, read top-down: request id, then the public routes, then the admin surface.
 * Each route module is small and owns one concern.
 */
import { Hono } from "hono";
import type { AppEnv } from "./env";

export const app = new Hono<AppEnv>();

app.notFound((c) => c.json({ error: "not_found", message: `no route for ${c.req.method} ${c.req.path}` }, 404));
