/**
 * The edge location of a request, read once per request: `request.cf` (colo, latitude, longitude), or — only when
 * GPU_TRUST_COLO_HEADER = "on", a setting for local benches and never for production — the `x-vitrine-colo` header
 * (wrangler dev has one colo; the global bench labels its simulated shoppers with it).
 */
import type { ConfigSource } from "../config";
import { config } from "../config";
import { edgeLocation, type EdgeLocation } from "./rtt";

export const COLO_HEADER = "x-vitrine-colo";

export function requestLocation(env: ConfigSource, req: Request): EdgeLocation {
  const cf = (req as { cf?: { colo?: unknown; latitude?: unknown; longitude?: unknown } }).cf;
  const header = config(env).gpu.trustColoHeader ? req.headers.get(COLO_HEADER)?.trim() : undefined;
  return edgeLocation(cf, header && /^[A-Za-z]{3}$/.test(header) ? header : undefined);
}

/** What the GPU stage of one request did about geography: where it entered, which region answered. */
export interface GeoTrace {
  location: EdgeLocation;
  /** the region the GPU stage tried first (nearest by estimated round trip; the first configured with fixed routing) */
  nearest?: string;
  /** the region whose answer was used; undefined: no GPU answer (degraded, not ranked, or not computed here) */
  region?: string;
}
