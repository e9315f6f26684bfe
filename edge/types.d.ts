/**
 * Module declarations for the non-JS imports that wrangler.toml's [rules] bundle:
 * `.onnx` → Data (ArrayBuffer), `.wasm` → CompiledWasm (WebAssembly.Module), `.sql` → Text (string).
 */
declare module "*.onnx" {
  const bytes: ArrayBuffer;
  export default bytes;
}

declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}

declare module "*.sql" {
  const sql: string;
  export default sql;
}
