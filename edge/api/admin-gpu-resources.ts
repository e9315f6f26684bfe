/**
 * The GPU tier's resources, admin (bearer ADMIN_TOKEN; handler: edge/routes/admin-gpu-resources.ts):
 *  GET /admin/gpu-resources?from=&to=   per endpoint slot and minute: process CPU seconds, resident memory, open
 *                                       fds, host memory available / total and in use (edge/metrics/gpu-resources.ts)
 */
import { defineRoute, json, z } from "./openapi";
import { unixSeconds } from "./params";

export const gpuResourcesQuery = z
  .object({ from: unixSeconds.optional(), to: unixSeconds.optional() })
  .transform((q, ctx) => {
    const now = Math.floor(Date.now() / 1000);
    const to = q.to ?? now + 60;
    const from = q.from ?? to - 6 * 3600;
    if (from >= to) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["from"], message: "from must be before to" });
    else if (to - from > 7 * 86_400)
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["from"], message: "at most 7 days at a time" });
    return { from, to };
  });

const row = z.object({
  endpoint: z.string(),
  ts: z.number(),
  cpuSeconds: z.number().nullable(),
  rssBytes: z.number().nullable(),
  openFds: z.number().nullable(),
  hostAvailableBytes: z.number().nullable(),
  hostTotalBytes: z.number().nullable(),
  /** host memory in use, 0..1 */
  memoryUsed: z.number().nullable(),
});
export type GpuResourcesRow = z.infer<typeof row>;

export const gpuResourcesRoute = defineRoute("admin", "get", "/gpu-resources", {
  summary: "The GPU tier's process and host resources per endpoint slot and minute (scraped from its /metrics)",
  request: { query: gpuResourcesQuery },
  responses: { 200: json("rows, oldest first per endpoint", z.object({ rows: z.array(row) })) },
});
