/**
 * The D1 read-outage drill (d1_read_down; recommend_d1_read_down probes /v1/recommend): the probes' D1 reads fail at
 * the D1 access layer (fault `d1: "down"`, edge/db/guarded.ts) — real traffic keeps its D1 and its D1 breaker.
 *
 *  steady state  a fault-free probe through the response cache is answered 2xx, not d1-degraded (it also leaves
 *                the ask's last good answer in the cache)
 *  under fault   every probe is answered 2xx degraded `d1_unavailable` (the stale answer, or the store's
 *                last-known-good list) or a fast 503 catalog_unavailable — never a 500;
 *                detect = the run's D1 breaker opens; failover = the first such answer; once open the breaker
 *                refuses reads without calling D1
 *  recovery      fault lifted: probes until one is answered 2xx from D1 again (the breaker's cool-down, then its
 *                trial read closes it)
 */
import { faultPhase, recoveryPhase } from "./phases";
import { catalogUnavailable, degradedBy, ok2xx, type ProbeResult, sleep } from "./probe";
import { type DrillRun, DrillSkipped } from "./run";

/** What a probe under the fault must get: a d1-degraded 2xx, or the 503 catalog_unavailable. */
const servedThroughOutage = (p: ProbeResult): boolean =>
  (ok2xx(p) && p.degraded && degradedBy(p, "d1_unavailable")) || catalogUnavailable(p);

const describeD1 = (p: ProbeResult): string =>
  `${p.status} degraded=${p.degraded}${p.body?.degradedReason ? `(${p.body.degradedReason})` : ""} cache=${p.cache ?? "-"}${p.body?.error ? ` ${p.body.error}` : ""}`;

export async function d1ReadDown(run: DrillRun): Promise<void> {
  run.tolerateCatalogUnavailable = true;

  // steady state: D1 answers the probe (through the cache, so the ask's last good answer is kept)
  const steady = await run.probe("steady", { cache: "use" });
  if (!ok2xx(steady) || degradedBy(steady, "d1_unavailable"))
    throw new DrillSkipped(`steady state not met: probe answered ${describeD1(steady)}`);
  await sleep(200); // the cache writes of the steady probe land (ctx.waitUntil)
  run.mark("steady_state_ok", { route: run.target.route, cache: steady.cache ?? null });

  // inject: until the run's D1 breaker opened and two more probes were answered behind it
  const under = await faultPhase(run, {
    fault: { d1: "down" },
    detected: (p) => {
      const opened = p.d1.find((e) => e.type === "breaker" && e.to === "open");
      return opened ? { at: opened.at, data: { breaker: "d1" } } : undefined;
    },
    expected: servedThroughOutage,
    expectedLabel: "degraded d1_unavailable (stale / last-known-good) or 503 catalog_unavailable",
  });
  const refused = under.reduce(
    (n, p) => n + p.d1.filter((e) => e.type === "read" && e.kind === "circuit_open").length,
    0,
  );
  const wrong = under.filter((p) => !servedThroughOutage(p));
  run.measurements.staleAnswers = under.filter(ok2xx).length;
  run.measurements.catalogUnavailable = under.filter(catalogUnavailable).length;
  run.measurements.readsRefusedByBreaker = refused;
  run.check(
    "no_500_under_fault",
    under.every((p) => ok2xx(p) || catalogUnavailable(p)),
    `${under.filter(ok2xx).length} stale 2xx + ${under.filter(catalogUnavailable).length} 503 of ${under.length} probes`,
  );
  run.check(
    "flags_under_fault",
    wrong.length === 0,
    wrong.length === 0
      ? `all ${under.length} probes: degraded d1_unavailable or 503 catalog_unavailable`
      : `got ${wrong.map(describeD1).join(", ")}`,
  );
  run.check("breaker_stops_reads", refused > 0, `${refused} reads refused by the open D1 breaker (D1 not called)`);

  // lift: fault-free probes (the run's breaker still open) until one is answered from D1 again
  await recoveryPhase(run, {
    recovered: (p) => ok2xx(p) && !degradedBy(p, "d1_unavailable"),
    acceptable: { check: "no_500_during_recovery", ok: (p) => ok2xx(p) || catalogUnavailable(p) },
  });
}
