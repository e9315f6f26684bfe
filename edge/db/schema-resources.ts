/** The GPU tier's resource figures per endpoint and minute (migration 0017; edge/metrics/gpu-resources.ts). */
import { integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const gpuResources = sqliteTable(
  "gpu_resources",
  {
    /** "primary" | "secondary": the endpoint slot scraped */
    endpoint: text("endpoint").notNull(),
    /** the minute (epoch seconds) of the scrape */
    ts: integer("ts").notNull(),
    /** process_cpu_seconds_total (a counter: the chart shows its rate) */
    cpuSeconds: real("cpu_seconds"),
    rssBytes: real("rss_bytes"),
    openFds: real("open_fds"),
    hostAvailableBytes: real("host_available_bytes"),
    hostTotalBytes: real("host_total_bytes"),
  },
  (t) => [primaryKey({ columns: [t.endpoint, t.ts] })],
);
