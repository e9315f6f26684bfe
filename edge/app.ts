/**
 * The Hono app, read top-down: request id, Server-Timing, error handling, 405 for wrong methods, CORS for the public
 * API, the body size limit, the rate limits, then the public routes, then the admin surface. Each route module is small and owns one
 * concern; mount each with one line.
 */
import { Hono } from "hono";
import type { AppEnv } from "./env";
import { onError } from "./middleware/errors";
import { requestId } from "./middleware/request-id";
import { serverTiming } from "./middleware/timing";
import { storefrontCors } from "./middleware/cors";
import { requestBodyLimit, wrongMethod } from "./middleware/limits";
import { apiRateLimit, loginRateLimit } from "./middleware/rate-limit";
import { health } from "./routes/health";
import { search } from "./routes/search";
import { events } from "./routes/events";
import { adminMetrics } from "./routes/admin-metrics";
import { adminDrills } from "./routes/admin-drills";
import { adminReleases } from "./routes/admin-releases";
import { dashboard } from "./routes/dashboard";

export const app = new Hono<AppEnv>();

app.use(requestId);
app.use(serverTiming);
app.onError(onError);
app.use(wrongMethod(app)); // a known path with another method → 405 + Allow (unknown paths: 404 below)
app.use("/v1/*", storefrontCors); // storefront origins only; never on /admin or /dashboard
app.use(requestBodyLimit); // 413 above MAX_BODY_BYTES
app.use("/v1/*", apiRateLimit); // 429 per client (user / cookie / IP); signed drill probes exempt
app.post("/dashboard/login", loginRateLimit); // 429 per IP, its own budget

app.route("/", health);
app.route("/v1", search);
app.route("/v1", events);
app.route("/admin", adminMetrics);
app.route("/admin", adminDrills(app.fetch)); // the drills probe this app in-process
app.route("/admin", adminReleases);
app.route("/", dashboard);

app.notFound((c) => c.json({ error: "not_found", message: `no route for ${c.req.method} ${c.req.path}` }, 404));
