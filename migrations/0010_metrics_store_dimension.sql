-- Stores as a rollup dimension (issue 14): metrics_requests, metrics_latency and metrics_degraded gain `store` in
-- their primary key; every existing row is the default store's (ESCI), as products' rows were in 0007. Recreates the
-- three tables keeping every row (drizzle-kit generate; the copy's SELECT fills 'esci' by hand).
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_metrics_degraded` (
	`res` integer NOT NULL,
	`ts` integer NOT NULL,
	`variant` text NOT NULL,
	`reason` text NOT NULL,
	`traffic` text DEFAULT 'live' NOT NULL,
	`store` text DEFAULT 'esci' NOT NULL,
	`count` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`res`, `ts`, `variant`, `reason`, `traffic`, `store`)
);
--> statement-breakpoint
INSERT INTO `__new_metrics_degraded`("res", "ts", "variant", "reason", "traffic", "store", "count") SELECT "res", "ts", "variant", "reason", "traffic", 'esci', "count" FROM `metrics_degraded`;--> statement-breakpoint
DROP TABLE `metrics_degraded`;--> statement-breakpoint
ALTER TABLE `__new_metrics_degraded` RENAME TO `metrics_degraded`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE TABLE `__new_metrics_latency` (
	`res` integer NOT NULL,
	`ts` integer NOT NULL,
	`route` text NOT NULL,
	`variant` text NOT NULL,
	`light_model` text NOT NULL,
	`heavy_model` text NOT NULL,
	`colo` text NOT NULL,
	`traffic` text DEFAULT 'live' NOT NULL,
	`store` text DEFAULT 'esci' NOT NULL,
	`stage` text NOT NULL,
	`bucket` integer NOT NULL,
	`count` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`res`, `ts`, `route`, `variant`, `light_model`, `heavy_model`, `colo`, `traffic`, `store`, `stage`, `bucket`)
);
--> statement-breakpoint
INSERT INTO `__new_metrics_latency`("res", "ts", "route", "variant", "light_model", "heavy_model", "colo", "traffic", "store", "stage", "bucket", "count") SELECT "res", "ts", "route", "variant", "light_model", "heavy_model", "colo", "traffic", 'esci', "stage", "bucket", "count" FROM `metrics_latency`;--> statement-breakpoint
DROP TABLE `metrics_latency`;--> statement-breakpoint
ALTER TABLE `__new_metrics_latency` RENAME TO `metrics_latency`;--> statement-breakpoint
CREATE INDEX `metrics_latency_by_time` ON `metrics_latency` (`res`,`ts`);--> statement-breakpoint
CREATE TABLE `__new_metrics_requests` (
	`res` integer NOT NULL,
	`ts` integer NOT NULL,
	`route` text NOT NULL,
	`variant` text NOT NULL,
	`light_model` text NOT NULL,
	`heavy_model` text NOT NULL,
	`colo` text NOT NULL,
	`traffic` text DEFAULT 'live' NOT NULL,
	`store` text DEFAULT 'esci' NOT NULL,
	`requests` integer DEFAULT 0 NOT NULL,
	`status_2xx` integer DEFAULT 0 NOT NULL,
	`status_3xx` integer DEFAULT 0 NOT NULL,
	`status_4xx` integer DEFAULT 0 NOT NULL,
	`status_5xx` integer DEFAULT 0 NOT NULL,
	`degraded` integer DEFAULT 0 NOT NULL,
	`good` integer DEFAULT 0 NOT NULL,
	`cache_hit` integer DEFAULT 0 NOT NULL,
	`cache_miss` integer DEFAULT 0 NOT NULL,
	`cache_bypass` integer DEFAULT 0 NOT NULL,
	`drill` integer DEFAULT 0 NOT NULL,
	`latency_sum_ms` real DEFAULT 0 NOT NULL,
	`gpu_calls` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`res`, `ts`, `route`, `variant`, `light_model`, `heavy_model`, `colo`, `traffic`, `store`)
);
--> statement-breakpoint
INSERT INTO `__new_metrics_requests`("res", "ts", "route", "variant", "light_model", "heavy_model", "colo", "traffic", "store", "requests", "status_2xx", "status_3xx", "status_4xx", "status_5xx", "degraded", "good", "cache_hit", "cache_miss", "cache_bypass", "drill", "latency_sum_ms", "gpu_calls") SELECT "res", "ts", "route", "variant", "light_model", "heavy_model", "colo", "traffic", 'esci', "requests", "status_2xx", "status_3xx", "status_4xx", "status_5xx", "degraded", "good", "cache_hit", "cache_miss", "cache_bypass", "drill", "latency_sum_ms", "gpu_calls" FROM `metrics_requests`;--> statement-breakpoint
DROP TABLE `metrics_requests`;--> statement-breakpoint
ALTER TABLE `__new_metrics_requests` RENAME TO `metrics_requests`;--> statement-breakpoint
CREATE INDEX `metrics_requests_by_time` ON `metrics_requests` (`res`,`ts`);