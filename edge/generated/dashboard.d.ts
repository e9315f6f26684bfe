/**
 * Types of edge/generated/dashboard.js, the dashboard's browser script bundled by scripts/build-dashboard.mjs from
 * edge/dashboard/client/ (wrangler.toml [build] runs it for wrangler dev and deploy; test/vitest.config.ts's
 * globalSetup for vitest). This file is committed so `tsc` passes on a fresh clone before any build; dashboard.js is
 * generated and git-ignored.
 */

/** the bundled script (an IIFE; it expects uPlot's global from /dashboard/assets/uplot.js loaded before it) */
export declare const DASHBOARD_JS: string;
/** the first 12 hex digits of the script's SHA-256: the page loads it as /dashboard/assets/dashboard.js?v=<this> */
export declare const DASHBOARD_JS_VERSION: string;
