/**
 * The GPU endpoints the edge may call, in failover order: the primary region (GPU_*) and, when configured, the
 * secondary region (GPU_SECONDARY_*). An empty *_ENDPOINT_URL means the regional SageMaker runtime URL.
 */
import { config, type ConfigSource } from "../config";

export type EndpointRole = "primary" | "secondary";

export interface GpuEndpoint {
  role: EndpointRole;
  /** SageMaker endpoint name */
  name: string;
  region: string;
  /** runtime URL override ("" = https://runtime.sagemaker.<region>.amazonaws.com) */
  url: string;
  /** stable key for breakers and metrics: role:name@region */
  id: string;
}

function endpoint(role: EndpointRole, name: string, region: string, url: string): GpuEndpoint {
  return { role, name, region, url, id: `${role}:${name}@${region}` };
}

/**
 * The secondary is configured when it has a name and, when the primary is a local override (a URL), a URL of its
 * own too: a local primary with an empty secondary URL would otherwise point at a real AWS region.
 */
export function gpuEndpoints(env: ConfigSource): GpuEndpoint[] {
  const { primary, secondary } = config(env).gpu;
  const list = [endpoint("primary", primary.name, primary.region, primary.url)];
  if (secondary.name !== "" && secondary.region !== "" && (secondary.url !== "" || primary.url === "")) {
    list.push(endpoint("secondary", secondary.name, secondary.region, secondary.url));
  }
  return list;
}
