CREATE TABLE `drill_nonces` (
	`nonce` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `drill_nonces_by_expiry` ON `drill_nonces` (`expires_at`);--> statement-breakpoint
CREATE TABLE `drill_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`scenario` text NOT NULL,
	`status` text NOT NULL,
	`trigger` text NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`reason` text,
	`time_to_detect_ms` integer,
	`time_to_failover_ms` integer,
	`time_to_recover_ms` integer,
	`probes` integer DEFAULT 0 NOT NULL,
	`non_2xx` integer DEFAULT 0 NOT NULL,
	`aborted` integer DEFAULT 0 NOT NULL,
	`results` text DEFAULT '{}' NOT NULL,
	`timeline` text DEFAULT '[]' NOT NULL
);
--> statement-breakpoint
CREATE INDEX `drill_runs_by_started` ON `drill_runs` (`started_at`);--> statement-breakpoint
CREATE INDEX `drill_runs_by_scenario` ON `drill_runs` (`scenario`,`started_at`);