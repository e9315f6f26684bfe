-- Stores (issue 14): the store dimension and the recommendation tables the edge reads (edge/db/schema-recs.ts).
-- Existing products are the ESCI catalogue (store 'esci', the default store).
CREATE TABLE `recs_current` (
	`store` text PRIMARY KEY NOT NULL,
	`model_version` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `recs_history` (
	`store` text NOT NULL,
	`user_id` text NOT NULL,
	`item_id` text NOT NULL,
	`n` integer NOT NULL,
	`last_day` real NOT NULL,
	`qty` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`store`, `user_id`, `item_id`),
	FOREIGN KEY (`store`) REFERENCES `stores`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `recs_item_stats` (
	`store` text NOT NULL,
	`model_version` text NOT NULL,
	`item_id` text NOT NULL,
	`pop_all` real NOT NULL,
	`pop_recent` real NOT NULL,
	`trend` real NOT NULL,
	`repeat_rate` real NOT NULL,
	`price` real NOT NULL,
	PRIMARY KEY(`store`, `model_version`, `item_id`)
);
--> statement-breakpoint
CREATE TABLE `recs_neighbours` (
	`store` text NOT NULL,
	`model_version` text NOT NULL,
	`kind` text NOT NULL,
	`item_id` text NOT NULL,
	`rank` integer NOT NULL,
	`neighbour_id` text NOT NULL,
	`score` real NOT NULL,
	PRIMARY KEY(`store`, `model_version`, `kind`, `item_id`, `rank`)
);
--> statement-breakpoint
CREATE TABLE `recs_vectors` (
	`store` text NOT NULL,
	`model_version` text NOT NULL,
	`kind` text NOT NULL,
	`key` text NOT NULL,
	`vector` text NOT NULL,
	PRIMARY KEY(`store`, `model_version`, `kind`, `key`)
);
--> statement-breakpoint
CREATE INDEX `recs_vectors_by_kind` ON `recs_vectors` (`store`,`model_version`,`kind`);--> statement-breakpoint
CREATE TABLE `stores` (
	`id` text PRIMARY KEY NOT NULL,
	`title` text NOT NULL,
	`is_default` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE `products` ADD `store` text DEFAULT 'esci' NOT NULL;--> statement-breakpoint
INSERT INTO `stores` (`id`, `title`, `is_default`) VALUES ('esci', 'ESCI search catalogue', 1), ('online-retail', 'UCI Online Retail', 0);
