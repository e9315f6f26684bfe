/** uPlot's browser build and stylesheet, bundled as text by the wrangler Text rule (served at /dashboard/assets). */
declare module "uplot/dist/uPlot.iife.min.js" {
  const js: string;
  export default js;
}
declare module "uplot/dist/uPlot.min.css" {
  const css: string;
  export default css;
}
