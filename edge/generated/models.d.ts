/**
 * Types of edge/generated/models.js, the data module the pipeline's export step writes from the model registry
 * (`python -m vitrine_gpu pipeline export`, CONTRACTS.md C3). This file is hand-written and committed, so `tsc`
 * passes on a fresh clone before any pipeline run; models.js is generated and git-ignored. tsc resolves
 * "../generated/models" to this declaration; wrangler (esbuild) and vitest bundle models.js.
 */

/** One light model bundled into the worker. */
export interface LightModelEntry {
  version: string;
  /** the ONNX graph (wrangler.toml [rules]: `.onnx` → Data) */
  onnx: ArrayBuffer;
  /** the features the model was trained on, in input-column order (CONTRACTS.md C2) */
  features: readonly string[];
  inputName: string;
  outputName: string;
  /** reference inputs and the scores onnxruntime (Python) gave for them */
  parity: { inputs: number[][]; outputs: number[] };
}

/** light version → model: the current light version and the most recent others (for A/B tests) */
export declare const LIGHT_MODELS: Record<string, LightModelEntry>;
/** current.json's light version */
export declare const DEFAULT_LIGHT_MODEL: string;
/** current.json's heavy version ("" when there is none) */
export declare const DEFAULT_HEAVY_MODEL: string;
/** cascade blend weight per heavy version: top M ordered by z(heavy) + w * z(light); absent = heavy alone */
export declare const HEAVY_BLEND_WEIGHTS: Record<string, number>;

/** What the edge needs to rebuild a recs-light model's inputs (edge/recs/): the version's SourceConfig and clock. */
export interface RecsSourceSettings {
  /** the version's clock: end of its training data, days since 1970-01-01 (recency is measured from it) */
  now: number;
  recencyTauDays: number;
  /** top-N each non-history source proposes */
  perSource: number;
  /** history items placed before the round-robin */
  maxHistory: number;
  maxCandidates: number;
}

/** One recommendation light ranker (vitrine_gpu.recs.ranker, 29 features, CONTRACTS.md C5b). */
export interface RecsLightModelEntry extends LightModelEntry {
  sources: RecsSourceSettings;
}

/**
 * recs-light version → model: current.json's recs-light and, per store with models of its own (`pipeline recs
 * --store`), its production version and its newest ones (empty when none is registered)
 */
export declare const RECS_LIGHT_MODELS: Record<string, RecsLightModelEntry>;
/** current.json's recs-light version ("" when there is none) */
export declare const DEFAULT_RECS_LIGHT_MODEL: string;
/** current.json's recs-heavy version ("" when there is none) */
export declare const DEFAULT_RECS_HEAVY_MODEL: string;
