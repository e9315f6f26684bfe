CREATE TABLE `alerts` (
	`id` text PRIMARY KEY NOT NULL,
	`rule` text NOT NULL,
	`kind` text NOT NULL,
	`severity` text NOT NULL,
	`state` text NOT NULL,
	`summary` text NOT NULL,
	`value` real,
	`threshold` real,
	`pending_since` integer,
	`fired_at` integer,
	`resolved_at` integer,
	`updated_at` integer NOT NULL,
	`silenced_until` integer,
	`notified_state` text,
	`labels` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
CREATE INDEX `alerts_by_state` ON `alerts` (`state`);--> statement-breakpoint
CREATE TABLE `metrics_compactions` (
	`hour` integer PRIMARY KEY NOT NULL,
	`compacted_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `metrics_degraded` (
	`res` integer NOT NULL,
	`ts` integer NOT NULL,
	`variant` text NOT NULL,
	`reason` text NOT NULL,
	`count` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`res`, `ts`, `variant`, `reason`)
);
--> statement-breakpoint
CREATE TABLE `metrics_feedback` (
	`res` integer NOT NULL,
	`ts` integer NOT NULL,
	`variant` text NOT NULL,
	`model` text NOT NULL,
	`impressions` integer DEFAULT 0 NOT NULL,
	`clicks` integer DEFAULT 0 NOT NULL,
	`add_to_cart` integer DEFAULT 0 NOT NULL,
	`purchases` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`res`, `ts`, `variant`, `model`)
);
--> statement-breakpoint
CREATE TABLE `metrics_flushes` (
	`id` text PRIMARY KEY NOT NULL,
	`applied_at` integer NOT NULL,
	`min_ts` integer NOT NULL,
	`max_ts` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `metrics_latency` (
	`res` integer NOT NULL,
	`ts` integer NOT NULL,
	`route` text NOT NULL,
	`variant` text NOT NULL,
	`light_model` text NOT NULL,
	`heavy_model` text NOT NULL,
	`colo` text NOT NULL,
	`stage` text NOT NULL,
	`bucket` integer NOT NULL,
	`count` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`res`, `ts`, `route`, `variant`, `light_model`, `heavy_model`, `colo`, `stage`, `bucket`)
);
--> statement-breakpoint
CREATE INDEX `metrics_latency_by_time` ON `metrics_latency` (`res`,`ts`);--> statement-breakpoint
CREATE TABLE `metrics_requests` (
	`res` integer NOT NULL,
	`ts` integer NOT NULL,
	`route` text NOT NULL,
	`variant` text NOT NULL,
	`light_model` text NOT NULL,
	`heavy_model` text NOT NULL,
	`colo` text NOT NULL,
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
	PRIMARY KEY(`res`, `ts`, `route`, `variant`, `light_model`, `heavy_model`, `colo`)
);
--> statement-breakpoint
CREATE INDEX `metrics_requests_by_time` ON `metrics_requests` (`res`,`ts`);--> statement-breakpoint
CREATE TABLE `metrics_scores` (
	`res` integer NOT NULL,
	`ts` integer NOT NULL,
	`kind` text NOT NULL,
	`model` text NOT NULL,
	`bucket` integer NOT NULL,
	`count` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`res`, `ts`, `kind`, `model`, `bucket`)
);
--> statement-breakpoint
CREATE INDEX `metrics_scores_by_time` ON `metrics_scores` (`res`,`ts`);