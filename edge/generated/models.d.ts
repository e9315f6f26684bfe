/**
 * Types of edge/generated/models.js, the data module the pipeline's export step writes from the model registry
 * (`python -m vitrine_gpu.pipeline export`, CONTRACTS.md C3). This file is hand-written and committed, so `tsc`
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
