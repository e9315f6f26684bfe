-- Views per (store, user, item): clicks with a user, for the live co-view neighbours (edge/recs/live.ts).
CREATE TABLE `recs_views` (
	`store` text NOT NULL,
	`user_id` text NOT NULL,
	`item_id` text NOT NULL,
	`n` integer NOT NULL,
	`last_day` real NOT NULL,
	PRIMARY KEY(`store`, `user_id`, `item_id`),
	FOREIGN KEY (`store`) REFERENCES `stores`(`id`) ON UPDATE no action ON DELETE no action
);
