/**
 * One SageMaker InvokeEndpoint call to the GPU tier (CONTRACTS.md C4 body), with an AbortSignal deadline; it answers a typed
 * GpuOutcome (edge/gpu/outcome.ts) and never throws.
 * The AWS SDK's browser build runs in workerd; credentials come explicitly from the worker's secrets, and
 * `endpointUrl` (GPU_ENDPOINT_URL) overrides the regional runtime URL for a local gpu-tier. SDK retries are off:
 * the caller (edge/gpu/index.ts) decides about retries and failover within its deadline.
 */
import {
  InvokeEndpointCommand,
  SageMakerRuntimeClient,
  type InvokeEndpointCommandOutput,
} from "@aws-sdk/client-sagemaker-runtime";
import { outcomeOfError, type GpuOutcome } from "./outcome";
import { scoredIds, type HeavyRankRequest } from "./types";

export interface SageMakerTarget {
  endpointName: string;
  region: string;
  /** empty = the real regional runtime URL */
  endpointUrl: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Clients are reused across requests of an isolate (one per target). */
const clients = new Map<string, SageMakerRuntimeClient>();

function clientFor(t: SageMakerTarget): SageMakerRuntimeClient {
  const key = [t.region, t.endpointUrl, t.accessKeyId, t.secretAccessKey, t.sessionToken ?? ""].join("\u0000");
  let client = clients.get(key);
  if (!client) {
    client = new SageMakerRuntimeClient({
      region: t.region,
      ...(t.endpointUrl ? { endpoint: t.endpointUrl } : {}),
      credentials: {
        accessKeyId: t.accessKeyId,
        secretAccessKey: t.secretAccessKey,
        ...(t.sessionToken ? { sessionToken: t.sessionToken } : {}),
      },
      maxAttempts: 1,
    });
    clients.set(key, client);
  }
  return client;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface InvocationResponse {
  model?: unknown;
  scores?: unknown;
  timing_ms?: { total?: unknown };
}

/** Rejects when the signal aborts; `dispose` detaches it once the call settled (no dangling rejection later). */
function rejectOnAbort(signal: AbortSignal): { promise: Promise<never>; dispose: () => void } {
  let onAbort = (): void => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  promise.catch(() => {});
  return { promise, dispose: () => signal.removeEventListener("abort", onAbort) };
}

/** Invokes the endpoint once; never throws. */
export async function invokeEndpoint(
  target: SageMakerTarget,
  input: HeavyRankRequest,
  signal: AbortSignal,
): Promise<GpuOutcome> {
  // an empty model version (no heavy model exported yet) lets the GPU tier use its current default
  const body = JSON.stringify(requestBody(input));
  const attributes = [
    ...(input.model ? [`model=${input.model}`] : []),
    ...(input.deadlineMs !== undefined ? [`deadline-ms=${Math.max(1, Math.floor(input.deadlineMs))}`] : []),
    ...(input.colo ? [`colo=${input.colo}`] : []),
  ].join(",");
  const command = new InvokeEndpointCommand({
    EndpointName: target.endpointName,
    ContentType: "application/json",
    Accept: "application/json",
    ...(attributes ? { CustomAttributes: attributes } : {}),
    ...(input.targetVariant ? { TargetVariant: input.targetVariant } : {}),
    Body: encoder.encode(body),
  });
  let out: InvokeEndpointCommandOutput;
  try {
    // race the deadline as well: the SDK honours abortSignal for the HTTP call, but not for every step before it
    const abort = rejectOnAbort(signal);
    const sent = clientFor(target).send(command, { abortSignal: signal });
    sent.catch(() => {}); // when the deadline wins the race, the SDK's later rejection is expected
    out = await Promise.race([sent, abort.promise]).finally(abort.dispose);
  } catch (err) {
    return outcomeOfError(err, signal);
  }
  return parseScores(out.Body, input);
}

/** The C4 body (search) or the C5b body (`task: "recommend"`). */
function requestBody(input: HeavyRankRequest): Record<string, unknown> {
  const model = input.model ? { model: input.model } : {};
  if (input.task === "recommend") {
    const { store, sequence, candidates, now } = input;
    return { task: "recommend", store, sequence, candidates, ...(now !== undefined ? { now } : {}), ...model };
  }
  return { query: input.query, documents: input.documents, ...model };
}

/** The C4 response body: one finite score per document sent. */
function parseScores(body: Uint8Array | undefined, input: HeavyRankRequest): GpuOutcome {
  const expected = scoredIds(input).length;
  const malformed: GpuOutcome = { kind: "malformed", detail: `malformed response: expected ${expected} finite scores` };
  let parsed: InvocationResponse | null;
  try {
    parsed = JSON.parse(decoder.decode(body)) as InvocationResponse | null;
  } catch {
    return malformed;
  }
  const scores = parsed?.scores;
  if (
    !Array.isArray(scores) ||
    scores.length !== expected ||
    !scores.every((s) => typeof s === "number" && Number.isFinite(s))
  ) {
    return malformed;
  }
  const computeMs = parsed?.timing_ms?.total;
  return {
    kind: "ok",
    scores: scores as number[],
    model: typeof parsed?.model === "string" ? parsed.model : input.model,
    ...(typeof computeMs === "number" && Number.isFinite(computeMs) ? { computeMs } : {}),
  };
}
