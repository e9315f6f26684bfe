/**
 * The GPU endpoints the edge may call, one per region, in configured order: GPU_REGIONS (a JSON list, README
 * "Global traffic"), or the primary region (GPU_*) and, when configured, the secondary region (GPU_SECONDARY_*). An
 * empty url means the regional SageMaker runtime URL. Which one a request tries first is decided per request
 * (edge/gpu/routing.ts); the configured order is the "fixed" routing and the tie-break.
 */
import { config, type ConfigSource } from "../config";

/** "primary" = the first configured region, "secondary" = any other (what the failover drills inject faults by) */
export type EndpointRole = "primary" | "secondary";

export interface GpuEndpoint {
  role: EndpointRole;
  /** SageMaker endpoint name */
  name: string;
  /** the AWS region: the breaker, metrics and round-trip label of this endpoint */
  region: string;
  /** runtime URL override ("" = https://runtime.sagemaker.<region>.amazonaws.com) */
  url: string;
  /** stable key for breakers and events: role:name@region */
  id: string;
}

export function gpuEndpoints(env: ConfigSource): GpuEndpoint[] {
  return config(env).gpu.regions.map(({ region, endpoint: name, url }, i) => {
    const role: EndpointRole = i === 0 ? "primary" : "secondary";
    return { role, name, region, url, id: `${role}:${name}@${region}` };
  });
}
