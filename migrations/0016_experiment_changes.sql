-- The experiments API's audit trail (issue 25): one row per change of an experiment made through
-- POST/PATCH /admin/experiments — who (the x-vitrine-actor label), when, what (create | reweight | end), and the
-- experiment with its variants as JSON before and after. Written in the same D1 batch as the change.
CREATE TABLE `experiment_changes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`experiment_id` text NOT NULL,
	`store` text NOT NULL,
	`surface` text NOT NULL,
	`action` text NOT NULL,
	`actor` text NOT NULL,
	`before` text,
	`after` text NOT NULL,
	`reason` text,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `experiment_changes_by_experiment` ON `experiment_changes` (`experiment_id`,`at`);
