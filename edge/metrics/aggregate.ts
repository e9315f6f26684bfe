/**
 * In-isolate aggregation: request samples and feedback events fold into per-minute counters and sketches keyed by
 * (minute, dimensions); `drain()` turns what accumulated into one immutable flush payload with a fresh id.
 */
import { Sketch } from "./sketch";
import {
  FEEDBACK_COUNTERS,
  REQUEST_COUNTERS,
  type FeedbackCounter,
  type FeedbackCounters,
  type RequestCounters,
  zeroCounters,
} from "./rollups";
import { STAGES, type RequestSample, type Stage } from "./types";
import type { Traffic } from "../db/schema-metrics";

export const MINUTE = 60;
export const HOUR = 3600;

export interface SeriesDims {
  route: string;
  variant: string;
  lightModel: string;
  heavyModel: string;
  colo: string;
  /** drill probes (sample.drill) roll up in their own series, never mixed with live traffic */
  traffic: Traffic;
  /** the store the request was served for (sample.store) */
  store: string;
}

export type FeedbackType = "impression" | "click" | "add_to_cart" | "purchase";

/** What a feedback event is counted under: the variant and model it echoes, the store it was for. */
export interface FeedbackDims {
  variant: string;
  model: string;
  /** the event's store, resolved (the default store when it named none) */
  store: string;
}

export const FEEDBACK_FIELD: Record<FeedbackType, FeedbackCounter> = {
  impression: "impressions",
  click: "clicks",
  add_to_cart: "addToCart",
  purchase: "purchases",
};

export interface RequestRow extends SeriesDims, RequestCounters {
  ts: number;
}
export interface LatencyRow extends SeriesDims {
  ts: number;
  stage: Stage;
  bucket: number;
  count: number;
}
export interface DegradedRow {
  ts: number;
  variant: string;
  reason: string;
  traffic: Traffic;
  store: string;
  count: number;
}
/** A score histogram's series: the model's kind and version, the traffic and the store it scored for. */
interface ScoreDims {
  kind: "light" | "heavy";
  model: string;
  traffic: Traffic;
  store: string;
}
export interface ScoreRow extends ScoreDims {
  ts: number;
  bucket: number;
  count: number;
}
export interface FeedbackRow extends FeedbackCounters, FeedbackDims {
  ts: number;
}
export interface EventRow {
  ts: number;
  kind: string;
  name: string;
  count: number;
}

/** Geography (metrics_geo): per (colo, region, traffic). */
interface GeoDims {
  colo: string;
  region: string;
  traffic: Traffic;
}
export interface GeoRow extends GeoDims {
  ts: number;
  requests: number;
  degraded: number;
  failovers: number;
  rttSamples: number;
  rttSumMs: number;
}
export interface GeoGpuRow extends GeoDims {
  ts: number;
  bucket: number;
  count: number;
}

/** What one flush writes; plain data so a failed flush can wait in a buffer and be replayed as is. */
export interface FlushPayload {
  id: string;
  createdAt: number;
  minTs: number;
  maxTs: number;
  requests: RequestRow[];
  latency: LatencyRow[];
  degraded: DegradedRow[];
  scores: ScoreRow[];
  feedback: FeedbackRow[];
  events: EventRow[];
  geo?: GeoRow[];
  geoGpu?: GeoGpuRow[];
}

export function minuteOf(ms: number): number {
  const s = Math.floor(ms / 1000);
  return s - (s % MINUTE);
}

interface SeriesAgg {
  ts: number;
  dims: SeriesDims;
  counters: RequestCounters;
  stages: Map<Stage, Sketch>;
}

const SEP = "\u0001";

export class Aggregator {
  private series = new Map<string, SeriesAgg>();
  private degraded = new Map<string, DegradedRow>();
  private scores = new Map<string, { ts: number; dims: ScoreDims; sketch: Sketch }>();
  private feedback = new Map<string, FeedbackRow>();
  private events = new Map<string, EventRow>();
  private geo = new Map<string, { row: GeoRow; gpu: Sketch }>();
  /** Samples + events folded in since the last drain (drives the 500-request flush trigger). */
  pending = 0;

  addRequest(sample: RequestSample, nowMs: number): void {
    const ts = minuteOf(nowMs);
    const dims: SeriesDims = {
      route: sample.route,
      variant: sample.variant,
      lightModel: sample.lightModel,
      heavyModel: sample.heavyModel,
      colo: sample.colo,
      traffic: sample.drill ? "drill" : "live",
      store: sample.store,
    };
    // every dimension is part of the series key: a new one is a field of SeriesDims, not an edit here
    const key = [ts, ...Object.values(dims)].join(SEP);
    let s = this.series.get(key);
    if (!s) {
      s = { ts, dims, counters: zeroCounters(REQUEST_COUNTERS), stages: new Map() };
      this.series.set(key, s);
    }
    const c = s.counters;
    const cls = Math.floor(sample.status / 100);
    c.requests += 1;
    if (cls === 2) c.status2xx += 1;
    else if (cls === 3) c.status3xx += 1;
    else if (cls === 4) c.status4xx += 1;
    else if (cls >= 5) c.status5xx += 1;
    if (sample.degradedReason) c.degraded += 1;
    else if (cls === 2) c.good += 1;
    if (sample.cache === "HIT") c.cacheHit += 1;
    else if (sample.cache === "MISS") c.cacheMiss += 1;
    else c.cacheBypass += 1;
    if (sample.drill) c.drill += 1;
    c.latencySumMs += sample.stages.total;
    if (sample.stages.gpu !== undefined) c.gpuCalls += 1;
    for (const stage of STAGES) {
      const v = sample.stages[stage];
      if (v === undefined) continue;
      let sk = s.stages.get(stage);
      if (!sk) {
        sk = new Sketch();
        s.stages.set(stage, sk);
      }
      sk.add(Math.max(0, v));
    }
    if (sample.degradedReason) {
      const dk = [ts, dims.variant, sample.degradedReason, dims.traffic, dims.store].join(SEP);
      const d = this.degraded.get(dk);
      if (d) d.count += 1;
      else
        this.degraded.set(dk, {
          ts,
          variant: dims.variant,
          reason: sample.degradedReason,
          traffic: dims.traffic,
          store: dims.store,
          count: 1,
        });
    }
    const { traffic, store } = dims;
    this.addGeo(sample, ts, traffic);
    if (sample.scores?.light?.length)
      this.addScores(ts, { kind: "light", model: dims.lightModel, traffic, store }, sample.scores.light);
    if (sample.scores?.heavy?.length)
      this.addScores(ts, { kind: "heavy", model: dims.heavyModel, traffic, store }, sample.scores.heavy);
    this.pending += 1;
  }

  private addScores(ts: number, dims: ScoreDims, values: number[]): void {
    const key = [ts, ...Object.values(dims)].join(SEP);
    let e = this.scores.get(key);
    if (!e) {
      e = { ts, dims, sketch: new Sketch() };
      this.scores.set(key, e);
    }
    for (const v of values) e.sketch.add(v);
  }

  addFeedback(type: FeedbackType, dims: FeedbackDims, nowMs: number): void {
    const ts = minuteOf(nowMs);
    const key = [ts, dims.variant, dims.model, dims.store].join(SEP);
    let f = this.feedback.get(key);
    if (!f) {
      f = { ts, variant: dims.variant, model: dims.model, store: dims.store, ...zeroCounters(FEEDBACK_COUNTERS) };
      this.feedback.set(key, f);
    }
    f[FEEDBACK_FIELD[type]] += 1;
    this.pending += 1;
  }

  private geoCell(ts: number, dims: GeoDims): { row: GeoRow; gpu: Sketch } {
    const key = [ts, dims.colo, dims.region, dims.traffic].join(SEP);
    let g = this.geo.get(key);
    if (!g) {
      g = {
        row: { ts, ...dims, requests: 0, degraded: 0, failovers: 0, rttSamples: 0, rttSumMs: 0 },
        gpu: new Sketch(),
      };
      this.geo.set(key, g);
    }
    return g;
  }

  /** A ranking request's GPU route under (colo, nearest region): counted, degraded, failed over, its GPU stage time. */
  private addGeo(sample: RequestSample, ts: number, traffic: Traffic): void {
    if (!sample.geo) return;
    const g = this.geoCell(ts, { colo: sample.colo, region: sample.geo.nearest, traffic });
    g.row.requests += 1;
    if (sample.degradedReason) g.row.degraded += 1;
    if (sample.geo.servedBy && sample.geo.servedBy !== sample.geo.nearest) g.row.failovers += 1;
    if (sample.stages.gpu !== undefined) g.gpu.add(Math.max(0, sample.stages.gpu));
  }

  /** One learned round trip from a colo to a region (live traffic only: synthetic calls do not learn). */
  addRtt(colo: string, region: string, ms: number, nowMs: number): void {
    const g = this.geoCell(minuteOf(nowMs), { colo, region, traffic: "live" });
    g.row.rttSamples += 1;
    g.row.rttSumMs += ms;
    this.pending += 1;
  }

  /** A counted event that is not a request (e.g. a circuit-breaker transition). */
  addEvent(kind: string, name: string, nowMs: number): void {
    const ts = minuteOf(nowMs);
    const key = [ts, kind, name].join(SEP);
    const e = this.events.get(key);
    if (e) e.count += 1;
    else this.events.set(key, { ts, kind, name, count: 1 });
    this.pending += 1;
  }

  isEmpty(): boolean {
    return (
      this.series.size === 0 &&
      this.feedback.size === 0 &&
      this.scores.size === 0 &&
      this.events.size === 0 &&
      this.geo.size === 0
    );
  }

  /** Moves everything accumulated into a payload (null when nothing accumulated) and resets. */
  drain(nowMs: number, id: string = crypto.randomUUID()): FlushPayload | null {
    if (this.isEmpty()) return null;
    const p: FlushPayload = {
      id,
      createdAt: Math.floor(nowMs / 1000),
      minTs: Number.MAX_SAFE_INTEGER,
      maxTs: 0,
      requests: [],
      latency: [],
      degraded: [...this.degraded.values()],
      scores: [],
      feedback: [...this.feedback.values()],
      events: [...this.events.values()],
    };
    const seen = (ts: number): void => {
      p.minTs = Math.min(p.minTs, ts);
      p.maxTs = Math.max(p.maxTs, ts);
    };
    for (const s of this.series.values()) {
      seen(s.ts);
      p.requests.push({ ts: s.ts, ...s.dims, ...s.counters });
      for (const [stage, sk] of s.stages)
        for (const [bucket, count] of sk.bins) p.latency.push({ ts: s.ts, ...s.dims, stage, bucket, count });
    }
    for (const e of this.scores.values()) {
      seen(e.ts);
      for (const [bucket, count] of e.sketch.bins) p.scores.push({ ts: e.ts, ...e.dims, bucket, count });
    }
    p.geo = [];
    p.geoGpu = [];
    for (const { row, gpu } of this.geo.values()) {
      seen(row.ts);
      p.geo.push(row);
      const { ts, colo, region, traffic } = row;
      for (const [bucket, count] of gpu.bins) p.geoGpu.push({ ts, colo, region, traffic, bucket, count });
    }
    for (const f of p.feedback) seen(f.ts);
    for (const e of p.events) seen(e.ts);
    this.series.clear();
    this.degraded.clear();
    this.scores.clear();
    this.feedback.clear();
    this.events.clear();
    this.geo.clear();
    this.pending = 0;
    return p;
  }
}
