/** The GPU tier's resources, admin side (edge/api/admin-gpu-resources.ts). */
import { gpuResourcesRoute } from "../api/admin-gpu-resources";
import { createAdminApi } from "../api/openapi";
import { memoryUsed, readGpuResources } from "../metrics/gpu-resources";

export const adminGpuResources = createAdminApi();

adminGpuResources.openapi(gpuResourcesRoute, async (c) => {
  const { from, to } = c.req.valid("query");
  const rows = await readGpuResources(c.env.DB, from, to);
  return c.json({ rows: rows.map((r) => ({ ...r, memoryUsed: memoryUsed(r) })) }, 200);
});
