/**
 * Compile-time only (types, imported by nothing; `npm run typecheck` checks it in the worker's project): the
 * responses the worker sends still carry every field the dashboard's browser script reads
 * (edge/dashboard/client/api.ts, whose own project is type-checked against the DOM).
 */
import type { RollupResult } from "../metrics/queries";
import type { AlertRow } from "../metrics/alerts";
import type { AlertsResponse, MetricsResponse } from "./client/api";

/** fails to compile unless T is assignable to U */
type Satisfies<T extends U, U> = T;

export type MetricsResponseCheck = Satisfies<RollupResult, MetricsResponse>;
export type AlertsResponseCheck = Satisfies<{ alerts: AlertRow[] }, AlertsResponse>;
