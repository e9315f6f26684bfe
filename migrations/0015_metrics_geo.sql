-- Global traffic (README "Global traffic"): rollups per (colo, GPU region), minute and hour rows like the other
-- metrics_* tables (edge/db/schema-metrics.ts: metricsGeo, metricsGeoGpu).
CREATE TABLE `metrics_geo` (
	`res` integer NOT NULL,
	`ts` integer NOT NULL,
	`colo` text NOT NULL,
	`region` text NOT NULL,
	`traffic` text DEFAULT 'live' NOT NULL,
	`requests` integer DEFAULT 0 NOT NULL,
	`degraded` integer DEFAULT 0 NOT NULL,
	`failovers` integer DEFAULT 0 NOT NULL,
	`rtt_samples` integer DEFAULT 0 NOT NULL,
	`rtt_sum_ms` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`res`, `ts`, `colo`, `region`, `traffic`)
);
--> statement-breakpoint
CREATE TABLE `metrics_geo_gpu` (
	`res` integer NOT NULL,
	`ts` integer NOT NULL,
	`colo` text NOT NULL,
	`region` text NOT NULL,
	`traffic` text DEFAULT 'live' NOT NULL,
	`bucket` integer NOT NULL,
	`count` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`res`, `ts`, `colo`, `region`, `traffic`, `bucket`)
);
