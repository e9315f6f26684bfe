/**
 * GPU tier reachability for /healthz, cached per isolate for a few seconds.
 * With an endpoint URL override (local gpu-tier / custom endpoint) it is a cheap `GET <url>/ping`; against real
 * SageMaker (no public /ping) it is one tiny InvokeEndpoint through the same client path the cascade uses.
 */
import type { Bindings } from "../env";
import { DEFAULT_HEAVY_MODEL } from "../generated/models";
import { gpuEndpoints } from "./endpoints";
import { targetOf } from "./index";
import { describeOutcome, failureReason } from "./outcome";
import { invokeEndpoint } from "./sagemaker";

export interface GpuHealth {
  reachable: boolean;
  endpoint: string;
  ms: number;
  checkedAt: string;
  models?: string[];
  detail?: string;
}

export const PING_TIMEOUT_MS = 1000;
export const PING_CACHE_MS = 5000;

let cached: { at: number; value: Promise<GpuHealth> } | undefined;

async function probe(env: Bindings): Promise<GpuHealth> {
  const target = targetOf(env, gpuEndpoints(env)[0]!);
  const endpoint = target.endpointUrl
    ? `${target.endpointName}@${target.endpointUrl}`
    : `${target.endpointName}@${target.region}`;
  const started = Date.now();
  const done = (reachable: boolean, extra: Partial<GpuHealth> = {}): GpuHealth => ({
    reachable,
    endpoint,
    ms: Date.now() - started,
    checkedAt: new Date(started).toISOString(),
    ...extra,
  });
  if (target.endpointUrl) {
    try {
      const res = await fetch(new URL("/ping", target.endpointUrl), { signal: AbortSignal.timeout(PING_TIMEOUT_MS) });
      const body = (await res.json().catch(() => ({}))) as { models?: unknown };
      const models = Array.isArray(body.models) ? body.models.map(String) : undefined;
      return done(res.ok, { ...(models ? { models } : {}), ...(res.ok ? {} : { detail: `HTTP ${res.status}` }) });
    } catch (err) {
      return done(false, { detail: err instanceof Error ? err.message : String(err) });
    }
  }
  const out = await invokeEndpoint(
    target,
    { query: "ping", documents: [{ id: "ping", title: "ping" }], model: DEFAULT_HEAVY_MODEL },
    AbortSignal.timeout(PING_TIMEOUT_MS),
  );
  return out.kind === "ok"
    ? done(true, { models: [out.model] })
    : done(false, { detail: `${failureReason(out)}: ${describeOutcome(out)}` });
}

export function gpuHealth(env: Bindings): Promise<GpuHealth> {
  const now = Date.now();
  if (!cached || now - cached.at > PING_CACHE_MS) cached = { at: now, value: probe(env) };
  return cached.value;
}
