/**
 * The monitoring dashboard's views (Hono JSX, rendered on the server): the layout, the login form, the page with its
 * sections. Charts are drawn in the browser by the dashboard script from /admin/metrics (edge/dashboard/client/);
 * score drift, drill reports and releases render here from what edge/dashboard/data.ts read.
 */
import type { FC, PropsWithChildren } from "hono/jsx";
import { DASHBOARD_JS_VERSION } from "../generated/dashboard";
import type { DrillSummary } from "../drills/reports";
import type { DashboardData, ReleasesPanel } from "./data";

const STYLE = `body{font:14px system-ui,sans-serif;margin:0;background:#f8fafc;color:#0f172a}
header{background:#0f172a;color:#fff;padding:10px 20px;display:flex;justify-content:space-between;align-items:center}
main{padding:16px 20px;display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:12px}h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e2e8f0;padding:4px 6px;text-align:left}
li.firing{color:#b91c1c}li.pending{color:#b45309}.muted{color:#64748b}form.login{max-width:320px;margin:80px auto;display:grid;gap:8px}
main>section{min-width:0;overflow-wrap:anywhere}#releases,#release-decisions{table-layout:fixed}
td.reason{width:35%;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
#experiments input[type=number]{width:70px}#experiments input[type=text]{width:100%;box-sizing:border-box}
#experiment-status.error{color:#b91c1c}`;

export const Layout: FC<PropsWithChildren<{ title: string; range?: number; step?: number; store?: string }>> = (
  props,
) => (
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

export const Login: FC<{ error?: string }> = ({ error }) => (
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
                    <td
                      class="reason"
                      title={((JSON.parse(d.figures) as { reasons?: string[] }).reasons ?? []).join("; ")}
                    >
                      {((JSON.parse(d.figures) as { reasons?: string[] }).reasons ?? []).join("; ")}
                    </td>
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
                  <td class="reason" title={r.reason ?? ""}>
                    {r.reason ?? ""}
                  </td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      )}
    </section>
  );
};

/**
 * The experiments page's section: the list (filled by the browser script from GET /admin/experiments, with
 * reweight and end controls per experiment) and the create form (POST /admin/experiments); the models a variant may
 * name are offered as suggestions (datalists) per surface.
 */
const ExperimentsSection: FC<Pick<DashboardData, "stores" | "store" | "models">> = (p) => (
  <section id="experiments" data-store={p.store ?? ""}>
    <h2>Experiments{p.store ? ` · ${p.store}` : ""}</h2>
    <p id="experiment-status" class="muted" role="status" />
    <div id="experiment-list">
      <p class="muted">loading…</p>
    </div>
    <form id="experiment-create">
      <h3>New experiment</h3>
      <label>
        store{" "}
        <select name="store">
          {p.stores.map((id) => (
            <option value={id} selected={p.store === id}>
              {id}
            </option>
          ))}
        </select>
      </label>{" "}
      <label>
        surface{" "}
        <select name="surface">
          <option value="search">search</option>
          <option value="recommend">recommend</option>
        </select>
      </label>
      <table>
        <thead>
          <tr>
            <th>variant</th>
            <th>weight</th>
            <th>light model</th>
            <th>heavy model</th>
            <th>GPU target</th>
            <th>top M</th>
          </tr>
        </thead>
        <tbody id="experiment-variants">
          {["control", "treatment"].map((name) => (
            <tr class="variant">
              <td>
                <input type="text" name="name" value={name} required />
              </td>
              <td>
                <input type="number" name="weight" value="1" min="0.001" step="any" required />
              </td>
              <td>
                <input type="text" name="lightModel" list="models-light-search" placeholder="default" />
              </td>
              <td>
                <input type="text" name="heavyModel" list="models-heavy-search" placeholder="default" />
              </td>
              <td>
                <input type="text" name="gpuTargetVariant" placeholder="endpoint routes" />
              </td>
              <td>
                <input type="number" name="topM" min="1" max="300" placeholder="default" />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" id="experiment-add-variant">
        Add variant
      </button>{" "}
      <input type="text" name="reason" placeholder="why (recorded in the audit trail)" style="width:40%" />{" "}
      <button type="submit">Create</button>
    </form>
    {p.models
      ? (["search", "recommend"] as const).flatMap((surface) =>
          (["light", "heavy"] as const).map((kind) => (
            <datalist id={`models-${kind}-${surface}`}>
              {p.models![surface][kind].map((m) => (
                <option value={m} />
              ))}
            </datalist>
          )),
        )
      : null}
  </section>
);

const ms = (v: number | null): string => (v === null ? "–" : `${v} ms`);
const signedMs = (v: number | null): string => (v === null ? "–" : `${v >= 0 ? "+" : ""}${v} ms`);
/** A GPU drill's regions: "SYD: ap-southeast-2 → us-east-1 (+230 ms / +241 ms)"; "–" for other drills. */
const regionCell = (r: DrillSummary["region"]): string =>
  r === null
    ? "–"
    : `${r.colo ? `${r.colo}: ` : ""}${r.home}${r.takeover ? ` → ${r.takeover}` : ""} (${signedMs(r.addedGpuP50Ms)} / ${signedMs(r.addedE2eP50Ms)})`;
const iso = (t: number): string => new Date(t > 1e12 ? t : t * 1000).toISOString().replace("T", " ").slice(0, 19);

export const Page: FC<DashboardData> = (p) => (
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
      <ExperimentsSection stores={p.stores} store={p.store} models={p.models} />
      <section>
        <h2>Global traffic: per edge location and nearest GPU region</h2>
        <table>
          <thead>
            <tr>
              <th>colo</th>
              <th>nearest region</th>
              <th>requests</th>
              <th>degraded</th>
              <th>failovers</th>
              <th>GPU p50 / p99 ms</th>
              <th>RTT ms</th>
            </tr>
          </thead>
          <tbody id="geo" />
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
      <section id="gpu-resources">
        <h2>GPU-tier resources</h2>
        <div id="chart-gpu-memory" class="chart" />
        <div id="chart-gpu-process" class="chart" />
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
                <th>region (took over, added p50 GPU / end to end)</th>
              </tr>
            </thead>
            <tbody>
              {p.drills.length === 0 ? (
                <tr>
                  <td colspan={8} class="muted">
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
                    <td>{regionCell(d.region)}</td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        )}
      </section>
    </main>
    <script src="/dashboard/assets/uplot.js" />
    <script src={`/dashboard/assets/dashboard.js?v=${DASHBOARD_JS_VERSION}`} />
  </Layout>
);
