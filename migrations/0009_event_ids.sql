-- POST /v1/events dedupe (issue 14): event ids seen per store (edge/db/schema-events.ts), swept by the maintenance cron.
CREATE TABLE `event_ids` (
	`store` text NOT NULL,
	`event_id` text NOT NULL,
	`seen_at` integer NOT NULL,
	`payload_id` text NOT NULL,
	PRIMARY KEY(`store`, `event_id`)
);
--> statement-breakpoint
CREATE INDEX `event_ids_by_seen_at` ON `event_ids` (`seen_at`);