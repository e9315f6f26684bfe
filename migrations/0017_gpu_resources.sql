-- The GPU tier's resource figures, scraped from its /metrics by the every-minute cron (edge/metrics/gpu-resources.ts):
-- one row per endpoint and minute; the gpu_memory alert and the dashboard's GPU-tier resources panel read them.
CREATE TABLE `gpu_resources` (
	`endpoint` text NOT NULL,
	`ts` integer NOT NULL,
	`cpu_seconds` real,
	`rss_bytes` real,
	`open_fds` real,
	`host_available_bytes` real,
	`host_total_bytes` real,
	PRIMARY KEY(`endpoint`, `ts`)
);
