/**
 * GET /dashboard (the page, or the login form without a session), its assets, login and logout
 * (edge/api/dashboard.ts). The views are edge/dashboard/views.tsx, the data edge/dashboard/data.ts; the session is
 * a signed cookie (edge/middleware/admin-auth.ts).
 */
import uplotJs from "uplot/dist/uPlot.iife.min.js";
import uplotCss from "uplot/dist/uPlot.min.css";
import { assetRoute, dashboardRoute, loginRoute, logoutRoute } from "../api/dashboard";
import { DASHBOARD_JS } from "../generated/dashboard";
import { createApi } from "../api/openapi";
import { dashboardData } from "../dashboard/data";
import { Login, Page } from "../dashboard/views";
import { endSession, isAdmin, isAdminToken, startSession } from "../middleware/admin-auth";

const ASSET_CACHE = "public, max-age=86400";

export const dashboard = createApi();

dashboard.openapi(assetRoute("uplot.js", "text/javascript", "uPlot"), (c) =>
  c.body(uplotJs, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": ASSET_CACHE }),
);
// the page asks for ?v=<hash of the script> (views.tsx): a new script is a new URL, so a day of caching is safe
dashboard.openapi(assetRoute("dashboard.js", "text/javascript", "the dashboard's browser script"), (c) =>
  c.body(DASHBOARD_JS, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": ASSET_CACHE }),
);
dashboard.openapi(assetRoute("uplot.css", "text/css", "uPlot styles"), (c) =>
  c.body(uplotCss, 200, { "content-type": "text/css; charset=utf-8", "cache-control": ASSET_CACHE }),
);

dashboard.openapi(dashboardRoute, async (c) => {
  if (!(await isAdmin(c))) return c.html(<Login />);
  const data = await dashboardData(c.env, c.req.valid("query"));
  c.header("cache-control", "no-store");
  return c.html(<Page {...data} />);
});

dashboard.openapi(loginRoute, async (c) => {
  const { token } = c.req.valid("form");
  if (!(await isAdminToken(c, token))) return c.html(<Login error="invalid token" />, 401);
  await startSession(c);
  return c.redirect("/dashboard", 303);
});

dashboard.openapi(logoutRoute, (c) => {
  endSession(c);
  return c.redirect("/dashboard", 303);
});
