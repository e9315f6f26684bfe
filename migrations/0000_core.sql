CREATE TABLE `experiment_variants` (
	`experiment_id` text NOT NULL,
	`name` text NOT NULL,
	`weight` real NOT NULL,
	`light_model` text NOT NULL,
	`heavy_model` text NOT NULL,
	`gpu_target_variant` text DEFAULT '' NOT NULL,
	`top_m` integer,
	PRIMARY KEY(`experiment_id`, `name`),
	FOREIGN KEY (`experiment_id`) REFERENCES `experiments`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `variants_by_experiment` ON `experiment_variants` (`experiment_id`);--> statement-breakpoint
CREATE TABLE `experiments` (
	`id` text PRIMARY KEY NOT NULL,
	`surface` text NOT NULL,
	`salt` text NOT NULL,
	`active` integer DEFAULT 1 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `products` (
	`rowid` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`title` text NOT NULL,
	`brand` text DEFAULT '' NOT NULL,
	`color` text DEFAULT '' NOT NULL,
	`bullets` text DEFAULT '' NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`category` text DEFAULT '' NOT NULL,
	`price` real,
	`rating` real,
	`rating_count` integer,
	`is_book` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `products_id_unique` ON `products` (`id`);