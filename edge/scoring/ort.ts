/**
 * onnxruntime-web (WASM backend) inside workerd.
 *
 * workerd forbids compiling WebAssembly from bytes at run time, so ORT's `.wasm` is bundled by wrangler's
 * CompiledWasm rule as a precompiled WebAssembly.Module. ORT's own emscripten loader is still used: we give it a
 * marker ArrayBuffer as `env.wasm.wasmBinary`, and while a session is being created we wrap
 * WebAssembly.instantiate so that the call carrying the marker (or a view of it) instantiates the precompiled
 * module instead. Single-threaded, no proxy worker.
 */
import * as ort from "onnxruntime-web/wasm";

/** The precompiled runtime (~12 MB), imported on the first session only: a worker path that never scores (admin
 * routes, cron, a test file that does not rank) does not load it. */
let ortWasm: Promise<WebAssembly.Module> | undefined;
const loadOrtWasm = (): Promise<WebAssembly.Module> =>
  (ortWasm ??= import("onnxruntime-web/ort-wasm-simd-threaded.wasm").then((m) => m.default));

const MARKER = new ArrayBuffer(8);

let configured = false;

function configureEnv(): void {
  if (configured) return;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.simd = true;
  ort.env.wasm.wasmBinary = MARKER;
  ort.env.logLevel = "error";
  configured = true;
}

function isMarker(source: unknown): boolean {
  if (source === MARKER) return true;
  return ArrayBuffer.isView(source) && source.buffer === MARKER;
}

type Instantiate = typeof WebAssembly.instantiate;

/**
 * Runs `fn` with WebAssembly.instantiate routed to the precompiled ORT module for the marker. The wrap is
 * reference-counted so concurrent session creations in one isolate share one patch.
 */
let patchDepth = 0;
let original: Instantiate | undefined;

async function withPrecompiledWasm<T>(fn: () => Promise<T>): Promise<T> {
  const wasm = await loadOrtWasm();
  if (patchDepth++ === 0) {
    original = WebAssembly.instantiate;
    const orig = original;
    const patched = (async (source: unknown, imports?: WebAssembly.Imports) => {
      if (isMarker(source)) {
        const instance = await orig(wasm, imports);
        return { instance, module: wasm };
      }
      return (orig as (s: unknown, i?: WebAssembly.Imports) => Promise<unknown>)(source, imports);
    }) as unknown as Instantiate;
    WebAssembly.instantiate = patched;
  }
  try {
    return await fn();
  } finally {
    if (--patchDepth === 0 && original) {
      WebAssembly.instantiate = original;
      original = undefined;
    }
  }
}

/** Creates an ORT inference session from model bytes (the wasm runtime itself initialises once per isolate). */
export async function createSession(model: ArrayBuffer): Promise<ort.InferenceSession> {
  configureEnv();
  return withPrecompiledWasm(() =>
    ort.InferenceSession.create(new Uint8Array(model), { executionProviders: ["wasm"], graphOptimizationLevel: "all" }),
  );
}

export { ort };
