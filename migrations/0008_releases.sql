CREATE TABLE `release_decisions` (
	`release_id` text NOT NULL,
	`step_index` integer NOT NULL,
	`weight` real NOT NULL,
	`decision` text NOT NULL,
	`figures` text NOT NULL,
	`at` integer NOT NULL,
	PRIMARY KEY(`release_id`, `at`, `step_index`),
	FOREIGN KEY (`release_id`) REFERENCES `releases`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `releases` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`store` text DEFAULT 'esci' NOT NULL,
	`surface` text NOT NULL,
	`version` text NOT NULL,
	`baseline_version` text,
	`status` text NOT NULL,
	`steps` text NOT NULL,
	`step_seconds` integer NOT NULL,
	`step_index` integer DEFAULT 0 NOT NULL,
	`step_started_at` integer,
	`reason` text,
	`gate_report` text DEFAULT '{}' NOT NULL,
	`started_by` text NOT NULL,
	`experiment_id` text,
	`canary_variant` text,
	`baseline_variants` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `releases_by_created` ON `releases` (`created_at`);--> statement-breakpoint
CREATE INDEX `releases_by_status` ON `releases` (`status`,`surface`);--> statement-breakpoint
ALTER TABLE `experiment_variants` ADD `release_id` text;