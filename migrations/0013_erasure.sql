-- Erasure (issue 24): event ids remember their user, so erasing a user finds them (rows written before this
-- migration have none and age out with EVENT_ID_RETENTION_H); every erasure request is recorded with who asked, when
-- and how many rows each table lost — counts only, never the user's id (edge/db/schema-events.ts).
ALTER TABLE `event_ids` ADD `user_id` text;
--> statement-breakpoint
CREATE INDEX `event_ids_by_user` ON `event_ids` (`store`,`user_id`);
--> statement-breakpoint
CREATE TABLE `erasures` (
	`id` text PRIMARY KEY NOT NULL,
	`store` text NOT NULL,
	`actor` text NOT NULL,
	`requested_at` integer NOT NULL,
	`history` integer NOT NULL,
	`views` integer NOT NULL,
	`event_ids` integer NOT NULL,
	`vectors` integer NOT NULL,
	`buffered` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `erasures_by_time` ON `erasures` (`requested_at`);
