/**
 * The Hono app, read top-down: request id, Server-Timing, error handling, 405 for wrong methods, CORS for the public
 * API, the body size limit, the rate limits, drill-probe detection, then the routes (the admin ones authenticate: createAdminApi). Each route
 * is declared once (edge/api/: @hono/zod-openapi contracts) and handled in edge/routes/; GET /openapi.json is
 * generated from those declarations.
 */
import { openapiRoute } from "./api/health";
import { createApi, openApiDocument } from "./api/openapi";
import { drillProbe, isSignedDrillProbe } from "./drills/middleware";
import { storefrontCors } from "./middleware/cors";
import { onError } from "./middleware/errors";
import { requestBodyLimit, wrongMethod } from "./middleware/limits";
import { apiRateLimit, loginRateLimit } from "./middleware/rate-limit";
import { requestId } from "./middleware/request-id";
import { serverTiming } from "./middleware/timing";
import { adminCatalog } from "./routes/admin-catalog";
import { adminDrills } from "./routes/admin-drills";
import { adminErasure } from "./routes/admin-erasure";
import { adminEvents } from "./routes/admin-events";
import { adminExperiments } from "./routes/admin-experiments";
import { adminMetrics } from "./routes/admin-metrics";
import { adminReleases } from "./routes/admin-releases";
import { adminGpuResources } from "./routes/admin-gpu-resources";
import { dashboard } from "./routes/dashboard";
import { events } from "./routes/events";
import { health } from "./routes/health";
import { recommend } from "./routes/recommend";
import { search } from "./routes/search";

export const app = createApi();

app.use(requestId);
app.use(serverTiming);
app.onError(onError);
app.use(wrongMethod(app)); // a known path with another method → 405 + Allow (unknown paths: 404 below)
app.use("/v1/*", storefrontCors); // storefront origins only; never on /admin or /dashboard
app.use(requestBodyLimit); // 413 above MAX_BODY_BYTES
app.use("/v1/*", apiRateLimit(isSignedDrillProbe)); // 429 per client (user / cookie / IP); signed drill probes exempt
app.use("/v1/*", drillProbe); // a verified drill probe ranks with its own GPU scope (edge/drills/)
app.post("/dashboard/login", loginRateLimit); // 429 per IP, its own budget

app.route("/", health);
app.route("/v1", search);
app.route("/v1", recommend);
app.route("/v1", events);
app.route("/admin", adminMetrics);
app.route("/admin", adminDrills(app.fetch)); // the drills probe this app in-process
app.route("/admin", adminReleases);
app.route("/admin", adminCatalog);
app.route("/admin", adminErasure);
app.route("/admin", adminEvents);
app.route("/admin", adminExperiments);
app.route("/admin", adminGpuResources);
app.route("/", dashboard);

let document: ReturnType<typeof openApiDocument> | undefined;
app.openapi(openapiRoute, (c) => c.json((document ??= openApiDocument(app)), 200));

app.notFound((c) => c.json({ error: "not_found", message: `no route for ${c.req.method} ${c.req.path}` }, 404));
