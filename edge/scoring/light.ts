/**
 * Light model scoring: one ORT session per light model version, created once per isolate (the promise is cached,
 * so concurrent first requests share one creation) and reused by every request the isolate serves. Search
 * (`light-…`) and recommendation (`recs-light-…`) rankers share this code; their versions never collide.
 */
import { LIGHT_MODELS, RECS_LIGHT_MODELS, type LightModelEntry } from "../generated/models";
import { createSession, ort } from "./ort";

const sessions = new Map<string, Promise<ort.InferenceSession>>();

export class UnknownLightModelError extends Error {
  constructor(readonly version: string) {
    super(`light model ${version} is not bundled in this worker`);
    this.name = "UnknownLightModelError";
  }
}

export function lightModelEntry(version: string): LightModelEntry {
  const entry = Object.hasOwn(LIGHT_MODELS, version) ? LIGHT_MODELS[version] : RECS_LIGHT_MODELS[version];
  if (!entry) throw new UnknownLightModelError(version);
  return entry;
}

/** Versions bundled into this worker build. */
export function bundledLightModels(): string[] {
  return [...Object.keys(LIGHT_MODELS), ...Object.keys(RECS_LIGHT_MODELS)];
}

function sessionFor(version: string): Promise<ort.InferenceSession> {
  let s = sessions.get(version);
  if (!s) {
    const entry = lightModelEntry(version);
    s = createSession(entry.onnx);
    // a failed creation must not poison the isolate: forget it so the next request retries
    s.catch(() => sessions.delete(version));
    sessions.set(version, s);
  }
  return s;
}

/** Versions whose session this isolate has already created (for /healthz). */
export function warmLightModels(): string[] {
  return [...sessions.keys()];
}

/**
 * Scores a row-major feature matrix [rows × F] with the given light model version; returns one score per row.
 * F must equal the model's feature count (the manifest's feature list).
 */
export async function scoreLight(version: string, features: Float32Array, rows: number): Promise<Float32Array> {
  const entry = lightModelEntry(version);
  const width = entry.features.length;
  if (rows === 0) return new Float32Array(0);
  if (features.length !== rows * width) {
    throw new Error(`light model ${version} expects ${width} features per row, got ${features.length / rows}`);
  }
  const session = await sessionFor(version);
  const input = new ort.Tensor("float32", features, [rows, width]);
  const out = await session.run({ [entry.inputName]: input });
  const score = out[entry.outputName];
  if (!score) throw new Error(`light model ${version} returned no "${entry.outputName}" output`);
  const data = score.data;
  if (!(data instanceof Float32Array) || data.length !== rows) {
    throw new Error(`light model ${version} returned ${String(data.length)} scores for ${rows} rows`);
  }
  return new Float32Array(data);
}
