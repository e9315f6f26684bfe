/**
 * GET /dashboard — the monitoring page (Hono JSX). Without a session it shows a login form (POST /dashboard/login
 * checks ADMIN_TOKEN in constant time and sets an HttpOnly session cookie). Charts are drawn in the browser with
 * uPlot, served by this worker at /dashboard/assets/* (no CDN). Score drift, drill reports and releases render server
 * side; the release in progress (or the latest) gets canary vs baseline curves drawn in the browser.
 */
import { Hono } from "hono";
import type { FC, PropsWithChildren } from "hono/jsx";
import { getCookie, setCookie, deleteCookie } from "hono/cookie";
import { z } from "zod";
import uplotJs from "uplot/dist/uPlot.iife.min.js";
import uplotCss from "uplot/dist/uPlot.min.css";
import type { AppEnv } from "../env";
import { ADMIN_COOKIE, isAdmin, sessionValue, tokensEqual } from "../admin/auth";
import { listDrillReports, type DrillSummary } from "../drills/reports";
import { scoreDrift, type DriftFigure } from "../metrics/drift";
import { config } from "../config";
import { flushNow } from "../metrics/collector";
import { DASHBOARD_SCRIPT } from "../dashboard/client";
import { listReleases, releaseDecisionsOf, releaseView, type DecisionRow, type ReleaseView } from "../releases/store";
import { storeIdSchema, storeSet } from "../stores/resolve";
import { describeRoute, media, redirect } from "../openapi/registry";
import { invalidRequest } from "../middleware/errors";

const STYLE = `body{font:14px system-ui,sans-serif;margin:0;background:#f8fafc;color:#0f172a}
header{background:#0f172a;color:#fff;padding:10px 20px;display:flex;justify-content:space-between;align-items:center}
main{padding:16px 20px;display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:12px}h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e2e8f0;padding:4px 6px;text-align:left}
li.firing{color:#b91c1c}li.pending{color:#b45309}.muted{color:#64748b}form.login{max-width:320px;margin:80px auto;display:grid;gap:8px}`;

const Layout: FC<PropsWithChildren<{ title: string; range?: number; step?: number; store?: string }>> = (props) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <title>{props.title}</title>
      <link rel="icon" href="data:," />
      <link rel="stylesheet" href="/dashboard/assets/uplot.css" />
      <style dangerouslySetInnerHTML={{ __html: STYLE }} />
    </head>
    <body data-range={String(props.range ?? 3600)} data-step={String(props.step ?? 60)} data-store={props.store ?? ""}>
      {props.children}
    </body>
  </html>
);

const Login: FC<{ error?: string }> = ({ error }) => (
  <Layout title="vitrine · login">
    <form class="login" method="post" action="/dashboard/login">
      <h2>vitrine monitoring</h2>
      <label for="token">Admin token</label>
      <input id="token" name="token" type="password" autocomplete="current-password" required />
      <button type="submit">Sign in</button>
      {error ? <p style="color:#b91c1c">{error}</p> : null}
    </form>
  </Layout>
);

async function recentDrills(db: D1Database, limit: number): Promise<DrillSummary[] | null> {
  try {
    return await listDrillReports(db, limit);
  } catch (err) {
    console.warn("drill reports unavailable", err);
    return null;
  }
}

/** The release the dashboard charts: the one in canary, else the latest that reached a canary; and the recent ones. */
interface ReleasesPanel {
  recent: ReleaseView[];
  focus: ReleaseView | null;
  decisions: DecisionRow[];
}

async function releasesPanel(db: D1Database): Promise<ReleasesPanel | null> {
  try {
    const recent = (await listReleases(db, 10)).map(releaseView);
    const focus = recent.find((r) => r.status === "canary") ?? recent.find((r) => r.canaryVariant !== null) ?? null;
    return { recent, focus, decisions: focus ? await releaseDecisionsOf(db, focus.id) : [] };
  } catch (err) {
    console.warn("releases unavailable", err);
    return null;
  }
}

const ReleasesSection: FC<{ panel: ReleasesPanel | null }> = ({ panel }) => {
  const f = panel?.focus;
  return (
    <section
      id="release"
      {...(f?.canaryVariant && f.baselineVariants
        ? {
            "data-release": f.id,
            "data-canary": f.canaryVariant,
            "data-baseline": (JSON.parse(f.baselineVariants) as string[]).join(","),
            "data-from": String(Math.floor(f.createdAt / 1000)),
            "data-store": f.store,
          }
        : {})}
    >
      <h2>
        Releases
        {f
          ? ` · ${f.status === "canary" ? "in progress" : "latest"}: ${f.kind} ${f.version} (${f.status}, ${f.weight}%)`
          : ""}
      </h2>
      {f ? (
        <>
          <div id="chart-release-latency" class="chart" />
          <div id="chart-release-errors" class="chart" />
          <table id="release-decisions">
            <thead>
              <tr>
                <th>at</th>
                <th>step</th>
                <th>weight</th>
                <th>decision</th>
                <th>why</th>
              </tr>
            </thead>
            <tbody>
              {panel.decisions.length === 0 ? (
                <tr>
                  <td colspan={5} class="muted">
                    no decision yet
                  </td>
                </tr>
              ) : (
                panel.decisions.map((d) => (
                  <tr>
                    <td>{iso(d.at)}</td>
                    <td>{d.stepIndex + 1}</td>
                    <td>{d.weight}%</td>
                    <td>{d.decision}</td>
                    <td>{((JSON.parse(d.figures) as { reasons?: string[] }).reasons ?? []).join("; ")}</td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </>
      ) : null}
      {panel === null ? (
        <p class="muted">releases unavailable</p>
      ) : (
        <table id="releases">
          <thead>
            <tr>
              <th>created</th>
              <th>kind</th>
              <th>version</th>
              <th>status</th>
              <th>steps</th>
              <th>reason</th>
            </tr>
          </thead>
          <tbody>
            {panel.recent.length === 0 ? (
              <tr>
                <td colspan={6} class="muted">
                  no releases yet
                </td>
              </tr>
            ) : (
              panel.recent.map((r) => (
                <tr title={r.id}>
                  <td>{iso(r.createdAt)}</td>
                  <td>{r.kind}</td>
                  <td>{r.version}</td>
                  <td>{r.status}</td>
                  <td>
                    {r.steps
                      .map((w, i) => (i === r.stepIndex && r.status === "canary" ? `[${w}]` : String(w)))
                      .join(" → ")}
                  </td>
                  <td>{r.reason ?? ""}</td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      )}
    </section>
  );
};

const ms = (v: number | null): string => (v === null ? "–" : `${v} ms`);
const iso = (t: number): string => new Date(t > 1e12 ? t : t * 1000).toISOString().replace("T", " ").slice(0, 19);

const Page: FC<{
  releases: ReleasesPanel | null;
  drift: DriftFigure[];
  drills: DrillSummary[] | null;
  psiThreshold: number;
  range: number;
  step: number;
  /** every store id, and the one the charts are filtered on (undefined: all stores) */
  stores: string[];
  store: string | undefined;
}> = (p) => (
  <Layout title="vitrine · monitoring" range={p.range} step={p.step} store={p.store}>
    <header>
      <strong>vitrine monitoring</strong>
      <span id="summary" class="muted">
        loading…
      </span>
      <form id="store-picker" method="get" action="/dashboard">
        <input type="hidden" name="range" value={String(p.range)} />
        <input type="hidden" name="step" value={String(p.step)} />
        <select name="store" aria-label="store">
          <option value="" selected={p.store === undefined}>
            all stores
          </option>
          {p.stores.map((id) => (
            <option value={id} selected={p.store === id}>
              {id}
            </option>
          ))}
        </select>
        <button type="submit">Show</button>
      </form>
      <form method="post" action="/dashboard/logout">
        <button type="submit">Sign out</button>
      </form>
    </header>
    <main>
      <section>
        <h2>Latency percentiles by stage</h2>
        <div id="chart-latency" class="chart" />
      </section>
      <section>
        <h2>Request rate</h2>
        <div id="chart-rate" class="chart" />
      </section>
      <section>
        <h2>Degraded and error ratio</h2>
        <div id="chart-errors" class="chart" />
      </section>
      <section>
        <h2>Cache hit ratio</h2>
        <div id="chart-cache" class="chart" />
      </section>
      <section>
        <h2>Variants: CTR and conversion (95% Wilson intervals)</h2>
        <div id="chart-ctr" class="chart" />
        <table>
          <thead>
            <tr>
              <th>variant</th>
              <th>requests</th>
              <th>impressions</th>
              <th>CTR</th>
              <th>conversion</th>
            </tr>
          </thead>
          <tbody id="variants" />
        </table>
      </section>
      <ReleasesSection panel={p.releases} />
      <section>
        <h2>Score drift (PSI, last hour vs previous 24 h; alert &gt; {p.psiThreshold})</h2>
        <table id="drift">
          <thead>
            <tr>
              <th>kind</th>
              <th>model</th>
              <th>PSI</th>
              <th>last hour</th>
              <th>reference</th>
            </tr>
          </thead>
          <tbody>
            {p.drift.length === 0 ? (
              <tr>
                <td colspan={5} class="muted">
                  no scores recorded
                </td>
              </tr>
            ) : (
              p.drift.map((d) => (
                <tr>
                  <td>{d.kind}</td>
                  <td>{d.model}</td>
                  <td>{d.psi === null ? "–" : d.psi.toFixed(3)}</td>
                  <td>{d.current}</td>
                  <td>{d.reference}</td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </section>
      <section>
        <h2>Active alerts</h2>
        <ul id="alerts">
          <li class="muted">loading…</li>
        </ul>
      </section>
      <section>
        <h2>Failover drills</h2>
        {p.drills === null ? (
          <p class="muted">drill reports unavailable</p>
        ) : (
          <table id="drills">
            <thead>
              <tr>
                <th>started</th>
                <th>scenario</th>
                <th>trigger</th>
                <th>status</th>
                <th>detect</th>
                <th>failover</th>
                <th>recover</th>
              </tr>
            </thead>
            <tbody>
              {p.drills.length === 0 ? (
                <tr>
                  <td colspan={7} class="muted">
                    no drills yet
                  </td>
                </tr>
              ) : (
                p.drills.map((d) => (
                  <tr title={d.reason ?? ""}>
                    <td>{iso(d.startedAt)}</td>
                    <td>{d.scenario}</td>
                    <td>{d.trigger}</td>
                    <td>{d.status}</td>
                    <td>{ms(d.timeToDetectMs)}</td>
                    <td>{ms(d.timeToFailoverMs)}</td>
                    <td>{ms(d.timeToRecoverMs)}</td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        )}
      </section>
    </main>
    <script src="/dashboard/assets/uplot.js" />
    <script dangerouslySetInnerHTML={{ __html: DASHBOARD_SCRIPT }} />
  </Layout>
);

const pageQuery = z.object({
  range: z.coerce
    .number()
    .int()
    .min(600)
    .max(7 * 86_400)
    .catch(3600),
  step: z.coerce
    .number()
    .int()
    .min(60)
    .max(86_400)
    .refine((s) => s % 60 === 0)
    .catch(60),
  /** the store the charts show (a stores id); absent, malformed or unknown → every store */
  store: storeIdSchema.optional().catch(undefined),
});

const loginForm = z.object({ token: z.string() });

describeRoute({
  method: "get",
  path: "/dashboard",
  access: "page",
  summary: "The monitoring dashboard (HTML; the login form without a session)",
  description:
    "Optional `range` (600–604800 s), `step` (60–86400 s, multiple of 60) and `store` (the charts, variant table and " +
    "summary of one store; none = every store); bad values take the defaults.",
  responses: { 200: media("the dashboard or the login page", "text/html") },
});
describeRoute({
  method: "get",
  path: "/dashboard/assets/uplot.js",
  access: "page",
  summary: "Dashboard asset",
  responses: { 200: media("uPlot", "text/javascript") },
});
describeRoute({
  method: "get",
  path: "/dashboard/assets/uplot.css",
  access: "page",
  summary: "Dashboard asset",
  responses: { 200: media("uPlot styles", "text/css") },
});
describeRoute({
  method: "post",
  path: "/dashboard/login",
  access: "login",
  summary: "Dashboard login with the admin token (sets the session cookie); limited per IP",
  form: loginForm,
  responses: {
    303: redirect("logged in: to /dashboard"),
    401: media("invalid token: the login page again", "text/html"),
  },
});
describeRoute({
  method: "post",
  path: "/dashboard/logout",
  access: "page",
  summary: "Dashboard logout (clears the session cookie)",
  responses: { 303: redirect("to /dashboard") },
});

export const dashboard = new Hono<AppEnv>();

dashboard.get("/dashboard/assets/uplot.js", (c) =>
  c.body(uplotJs, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=86400" }),
);
dashboard.get("/dashboard/assets/uplot.css", (c) =>
  c.body(uplotCss, 200, { "content-type": "text/css; charset=utf-8", "cache-control": "public, max-age=86400" }),
);

dashboard.get("/dashboard", async (c) => {
  if (!(await isAdmin(c.env.ADMIN_TOKEN, c.req.header("authorization"), getCookie(c, ADMIN_COOKIE))))
    return c.html(<Login />);
  const q = pageQuery.parse({ range: c.req.query("range"), step: c.req.query("step"), store: c.req.query("store") });
  await flushNow(c.env.DB).catch((err: unknown) => console.warn("metrics flush before dashboard", err));
  const now = Math.floor(Date.now() / 1000);
  const [drift, drills, releases, known] = await Promise.all([
    scoreDrift(c.env.DB, now).catch(() => []),
    recentDrills(c.env.DB, 20),
    releasesPanel(c.env.DB),
    storeSet(c.env),
  ]);
  const store = q.store !== undefined && known.ids.has(q.store) ? q.store : undefined;
  c.header("cache-control", "no-store");
  return c.html(
    <Page
      releases={releases}
      drift={drift}
      drills={drills}
      psiThreshold={config(c.env).metrics.driftPsiThreshold}
      range={q.range}
      step={Math.max(q.step, Math.ceil(q.range / 1440 / 60) * 60)}
      stores={[...known.ids].sort()}
      store={store}
    />,
  );
});

dashboard.post("/dashboard/login", async (c) => {
  // a malformed body (e.g. multipart without a boundary) is the caller's error: 400, never a 500
  const form = await c.req.parseBody().catch(() => undefined);
  if (!form) return invalidRequest(c, "the body must be a form (application/x-www-form-urlencoded or multipart)");
  const token = typeof form.token === "string" ? form.token : "";
  const expected = c.env.ADMIN_TOKEN;
  if (!expected || !token || !(await tokensEqual(token, expected))) return c.html(<Login error="invalid token" />, 401);
  setCookie(c, ADMIN_COOKIE, await sessionValue(expected), {
    httpOnly: true,
    sameSite: "Strict",
    path: "/",
    maxAge: 12 * 3600,
    secure: new URL(c.req.url).protocol === "https:",
  });
  return c.redirect("/dashboard", 303);
});

dashboard.post("/dashboard/logout", (c) => {
  deleteCookie(c, ADMIN_COOKIE, { path: "/" });
  return c.redirect("/dashboard", 303);
});
