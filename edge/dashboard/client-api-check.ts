/**
 * Compile-time only (types, imported by nothing; `npm run typecheck` checks it in the worker's project): the
 * responses the worker sends still carry every field the dashboard's browser script reads
 * (edge/dashboard/client/api.ts, whose own project is type-checked against the DOM).
 */
import type { RollupResult } from "../metrics/queries";
import type { AlertRow } from "../metrics/alerts";
import type { ExperimentState } from "../experiments/admin";
import type { VariantFigures } from "../experiments/figures";
import type {
  AlertsResponse,
  ExperimentsResponse,
  GeoResponse,
  GpuResourcesResponse,
  MetricsResponse,
} from "./client/api";
import type { GpuResourcesRow } from "../api/admin-gpu-resources";
import type { GeoCell } from "../metrics/geo";

/** fails to compile unless T is assignable to U */
type Satisfies<T extends U, U> = T;

export type MetricsResponseCheck = Satisfies<RollupResult, MetricsResponse>;
export type GeoResponseCheck = Satisfies<{ geo: GeoCell[] }, GeoResponse>;
export type AlertsResponseCheck = Satisfies<{ alerts: AlertRow[] }, AlertsResponse>;
export type ExperimentsResponseCheck = Satisfies<
  { experiments: Array<ExperimentState & { figures: Record<string, VariantFigures> }> },
  ExperimentsResponse
>;
export type GpuResourcesResponseCheck = Satisfies<{ rows: GpuResourcesRow[] }, GpuResourcesResponse>;
