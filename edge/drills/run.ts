/**
 * One drill run as a scenario sees it: the timeline, the checks against the targets, the measured times, and the
 * probe sender guarded by the abort conditions (checked before every probe: real traffic's GPU error rate in this
 * isolate, a real-traffic breaker that opened during the drill; a 5xx to a probe also aborts).
 */
import type { D1Event } from "../db/d1-scope";
import type { Bindings } from "../env";
import { breakerStates, realGpuOutcomesSince } from "../gpu/index";
import type { GpuEvent } from "../gpu/types";
import type { DrillSettings } from "../config";
import type { FaultSpec, ScenarioId } from "./context";
import { type AppFetch, catalogUnavailable, type ProbeResult, type ProbeTarget, sendProbe } from "./probe";
import { serialiseDegradedReasons } from "../ranking/degraded";

export type DrillStatus = "pass" | "fail" | "skipped";
export type DrillTrigger = "cron" | "admin" | "test";

export interface TimelineEvent {
  /** ms since the run started */
  t: number;
  event: string;
  [key: string]: unknown;
}

export interface DrillCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface DrillReport {
  id: string;
  scenario: ScenarioId;
  status: DrillStatus;
  trigger: DrillTrigger;
  startedAt: number;
  finishedAt: number;
  reason?: string;
  timeToDetectMs: number | null;
  timeToFailoverMs: number | null;
  timeToRecoverMs: number | null;
  probes: number;
  non2xx: number;
  aborted: boolean;
  results: { targets: DrillSettings["targets"]; checks: DrillCheck[]; measurements: Record<string, unknown> };
  timeline: TimelineEvent[];
}

export class DrillAborted extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "DrillAborted";
  }
}

export class DrillSkipped extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "DrillSkipped";
  }
}

/** What a scenario works with. */
export class DrillRun {
  readonly startedAt = Date.now();
  readonly timeline: TimelineEvent[] = [];
  readonly checks: DrillCheck[] = [];
  readonly measurements: Record<string, unknown> = {};
  readonly probes: ProbeResult[] = [];
  timeToDetectMs: number | null = null;
  timeToFailoverMs: number | null = null;
  timeToRecoverMs: number | null = null;
  /** a D1 scenario: a 503 catalog_unavailable is a defined answer of its probes (faulted or recovering), not an abort */
  tolerateCatalogUnavailable = false;
  private gpuEvents: GpuEvent[] = [];
  private d1Events: D1Event[] = [];
  private readonly realBreakersAtStart: Map<string, string>;

  constructor(
    /** the worker's app the probes go through */
    readonly fetch: AppFetch,
    readonly id: string,
    readonly scenario: ScenarioId,
    readonly env: Bindings,
    readonly ctx: ExecutionContext,
    readonly settings: DrillSettings,
    readonly secret: string,
    readonly query: string,
    /** what the probes ask (search by default; the recommend_* scenarios probe /v1/recommend) */
    readonly target: ProbeTarget = { route: "search" },
    /** the edge location (colo) the probes are labelled with; "" = none (the configured region order) */
    readonly colo = "",
  ) {
    this.realBreakersAtStart = new Map(breakerStates(env).map((b) => [b.endpoint, b.state]));
  }

  elapsed(): number {
    return Date.now() - this.startedAt;
  }

  /** time left of the scenario budget */
  left(): number {
    return this.settings.scenarioBudgetMs - this.elapsed();
  }

  mark(event: string, data: Record<string, unknown> = {}, at = Date.now()): void {
    this.timeline.push({ t: at - this.startedAt, event, ...data });
  }

  check(name: string, ok: boolean, detail: string): boolean {
    this.checks.push({ name, ok, detail });
    return ok;
  }

  onGpuEvent = (e: GpuEvent): void => {
    this.gpuEvents.push(e);
    if (e.type === "breaker")
      this.mark("breaker", { endpoint: e.endpoint, from: e.from, to: e.to, reason: e.reason }, e.at);
  };

  onD1Event = (e: D1Event): void => {
    this.d1Events.push(e);
    if (e.type === "breaker") this.mark("d1_breaker", { from: e.from, to: e.to, reason: e.reason }, e.at);
  };

  get non2xx(): number {
    return this.probes.filter((p) => p.status < 200 || p.status > 299).length;
  }

  /** Abort conditions: real traffic must not be burning its error budget while a drill runs. */
  private guard(): void {
    const real = realGpuOutcomesSince(this.startedAt);
    if (real.calls >= 5 && real.failures / real.calls > 0.2) {
      throw new DrillAborted(`real traffic GPU failures ${real.failures}/${real.calls} since the drill started`);
    }
    for (const b of breakerStates(this.env)) {
      if (b.state === "open" && this.realBreakersAtStart.get(b.endpoint) !== "open") {
        throw new DrillAborted(`real traffic breaker ${b.endpoint} opened during the drill`);
      }
    }
  }

  /** Sends one probe (after the abort checks) and records it on the timeline. */
  async probe(phase: string, fault: FaultSpec): Promise<ProbeResult> {
    this.guard();
    const p = await sendProbe(
      {
        fetch: this.fetch,
        env: this.env,
        ctx: this.ctx,
        runId: this.id,
        scenario: this.scenario,
        secret: this.secret,
        query: this.query,
        target: this.target,
        colo: this.colo,
        drainGpuEvents: () => this.gpuEvents.splice(0, this.gpuEvents.length),
        drainD1Events: () => this.d1Events.splice(0, this.d1Events.length),
      },
      fault,
    );
    this.probes.push(p);
    const served = [...p.gpu].reverse().find((e) => e.type === "result");
    const degradedReason = serialiseDegradedReasons(p.degradedReasons);
    this.mark(
      "probe",
      {
        phase,
        route: this.target.route,
        status: p.status,
        ms: p.ms,
        degraded: p.degraded,
        ...(degradedReason ? { degradedReason } : {}),
        ...(p.cache ? { cache: p.cache } : {}),
        ...(served && served.type === "result"
          ? {
              gpu: served.ok
                ? { endpoint: served.endpoint, region: served.region, ms: served.ms, attempts: served.attempts }
                : { reason: served.reason, ms: served.ms, attempts: served.attempts },
            }
          : {}),
        ...(p.error ? { error: p.error } : {}),
      },
      p.at,
    );
    // in a D1 scenario a probe may be answered 503 catalog_unavailable (nothing cached): the defined answer
    if ((p.status >= 500 && !(this.tolerateCatalogUnavailable && catalogUnavailable(p))) || p.status === 0)
      throw new DrillAborted(`probe answered ${p.status}${p.error ? ` (${p.error})` : ""}`);
    return p;
  }
}
