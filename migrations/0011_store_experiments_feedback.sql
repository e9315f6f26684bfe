-- Experiments, feedback and score rollups keyed by store (issue 14): `experiments` gains `store` (the active experiment
-- is per (store, surface)), metrics_feedback and metrics_scores gain `store` in their primary key. Every existing row
-- is the default store's (ESCI), as in 0007 and 0010. drizzle-kit generate; the two copies' SELECTs fill 'esci' by
-- hand (the old tables have no store column), as 0010 did.
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_metrics_feedback` (
	`res` integer NOT NULL,
	`ts` integer NOT NULL,
	`variant` text NOT NULL,
	`model` text NOT NULL,
	`store` text DEFAULT 'esci' NOT NULL,
	`impressions` integer DEFAULT 0 NOT NULL,
	`clicks` integer DEFAULT 0 NOT NULL,
	`add_to_cart` integer DEFAULT 0 NOT NULL,
	`purchases` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`res`, `ts`, `variant`, `model`, `store`)
);
--> statement-breakpoint
INSERT INTO `__new_metrics_feedback`("res", "ts", "variant", "model", "store", "impressions", "clicks", "add_to_cart", "purchases") SELECT "res", "ts", "variant", "model", 'esci', "impressions", "clicks", "add_to_cart", "purchases" FROM `metrics_feedback`;--> statement-breakpoint
DROP TABLE `metrics_feedback`;--> statement-breakpoint
ALTER TABLE `__new_metrics_feedback` RENAME TO `metrics_feedback`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE TABLE `__new_metrics_scores` (
	`res` integer NOT NULL,
	`ts` integer NOT NULL,
	`kind` text NOT NULL,
	`model` text NOT NULL,
	`traffic` text DEFAULT 'live' NOT NULL,
	`store` text DEFAULT 'esci' NOT NULL,
	`bucket` integer NOT NULL,
	`count` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`res`, `ts`, `kind`, `model`, `traffic`, `store`, `bucket`)
);
--> statement-breakpoint
INSERT INTO `__new_metrics_scores`("res", "ts", "kind", "model", "traffic", "store", "bucket", "count") SELECT "res", "ts", "kind", "model", "traffic", 'esci', "bucket", "count" FROM `metrics_scores`;--> statement-breakpoint
DROP TABLE `metrics_scores`;--> statement-breakpoint
ALTER TABLE `__new_metrics_scores` RENAME TO `metrics_scores`;--> statement-breakpoint
CREATE INDEX `metrics_scores_by_time` ON `metrics_scores` (`res`,`ts`);--> statement-breakpoint
ALTER TABLE `experiments` ADD `store` text DEFAULT 'esci' NOT NULL;--> statement-breakpoint
CREATE INDEX `experiments_by_scope` ON `experiments` (`store`,`surface`,`active`);