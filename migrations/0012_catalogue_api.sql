-- The catalogue API (issue 22): a product id is unique within its store (and indexed alone, for id lists); products
-- carry `available` and the time of their last change; stores carry their currency, a catalogue version (part of the
-- response cache key), the count of events accepted for them and timestamps; `recs_views` keeps clicks with a user
-- per (store, user, item) for the live co-view neighbours (edge/recs/live.ts).
-- One full-text index per store replaces the index over every store, so each store's bm25 statistics are its own:
-- creating a store (the catalogue API) or loading its products (the pipeline's SQL of the same rows) creates its index
-- from edge/catalog/store-index.sql; the two stores that exist already (migration 0007) get theirs here, as that file
-- read today, with their products indexed.
DROP TRIGGER IF EXISTS `products_fts_ai`;--> statement-breakpoint
DROP TRIGGER IF EXISTS `products_fts_ad`;--> statement-breakpoint
DROP TRIGGER IF EXISTS `products_fts_au`;--> statement-breakpoint
DROP TABLE IF EXISTS `products_fts`;--> statement-breakpoint
CREATE TABLE `recs_views` (
	`store` text NOT NULL,
	`user_id` text NOT NULL,
	`item_id` text NOT NULL,
	`n` integer NOT NULL,
	`last_day` real NOT NULL,
	PRIMARY KEY(`store`, `user_id`, `item_id`),
	FOREIGN KEY (`store`) REFERENCES `stores`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
DROP INDEX `products_id_unique`;--> statement-breakpoint
ALTER TABLE `products` ADD `available` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `products` ADD `updated_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `products_store_id` ON `products` (`store`,`id`);--> statement-breakpoint
CREATE INDEX `products_by_id` ON `products` (`id`);--> statement-breakpoint
ALTER TABLE `stores` ADD `currency` text;--> statement-breakpoint
ALTER TABLE `stores` ADD `catalog_version` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `stores` ADD `event_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `stores` ADD `created_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `stores` ADD `updated_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE VIRTUAL TABLE IF NOT EXISTS `products_fts_esci` USING fts5(
	title, brand, color, bullets, description,
	content='products', content_rowid='rowid',
	tokenize='unicode61 remove_diacritics 2'
);--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `products_fts_esci_ai` AFTER INSERT ON `products` WHEN new.store = 'esci' BEGIN
	INSERT INTO `products_fts_esci`(rowid, title, brand, color, bullets, description)
	VALUES (new.rowid, new.title, new.brand, new.color, new.bullets, new.description);
END;--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `products_fts_esci_ad` AFTER DELETE ON `products` WHEN old.store = 'esci' BEGIN
	INSERT INTO `products_fts_esci`(`products_fts_esci`, rowid, title, brand, color, bullets, description)
	VALUES ('delete', old.rowid, old.title, old.brand, old.color, old.bullets, old.description);
END;--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `products_fts_esci_au` AFTER UPDATE OF title, brand, color, bullets, description ON `products`
WHEN old.store = 'esci' BEGIN
	INSERT INTO `products_fts_esci`(`products_fts_esci`, rowid, title, brand, color, bullets, description)
	VALUES ('delete', old.rowid, old.title, old.brand, old.color, old.bullets, old.description);
	INSERT INTO `products_fts_esci`(rowid, title, brand, color, bullets, description)
	VALUES (new.rowid, new.title, new.brand, new.color, new.bullets, new.description);
END;--> statement-breakpoint
INSERT INTO `products_fts_esci`(rowid, title, brand, color, bullets, description)
SELECT rowid, title, brand, color, bullets, description FROM `products` WHERE store = 'esci';--> statement-breakpoint
CREATE VIRTUAL TABLE IF NOT EXISTS `products_fts_online__retail` USING fts5(
	title, brand, color, bullets, description,
	content='products', content_rowid='rowid',
	tokenize='unicode61 remove_diacritics 2'
);--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `products_fts_online__retail_ai` AFTER INSERT ON `products` WHEN new.store = 'online-retail' BEGIN
	INSERT INTO `products_fts_online__retail`(rowid, title, brand, color, bullets, description)
	VALUES (new.rowid, new.title, new.brand, new.color, new.bullets, new.description);
END;--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `products_fts_online__retail_ad` AFTER DELETE ON `products` WHEN old.store = 'online-retail' BEGIN
	INSERT INTO `products_fts_online__retail`(`products_fts_online__retail`, rowid, title, brand, color, bullets, description)
	VALUES ('delete', old.rowid, old.title, old.brand, old.color, old.bullets, old.description);
END;--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `products_fts_online__retail_au` AFTER UPDATE OF title, brand, color, bullets, description ON `products`
WHEN old.store = 'online-retail' BEGIN
	INSERT INTO `products_fts_online__retail`(`products_fts_online__retail`, rowid, title, brand, color, bullets, description)
	VALUES ('delete', old.rowid, old.title, old.brand, old.color, old.bullets, old.description);
	INSERT INTO `products_fts_online__retail`(rowid, title, brand, color, bullets, description)
	VALUES (new.rowid, new.title, new.brand, new.color, new.bullets, new.description);
END;--> statement-breakpoint
INSERT INTO `products_fts_online__retail`(rowid, title, brand, color, bullets, description)
SELECT rowid, title, brand, color, bullets, description FROM `products` WHERE store = 'online-retail';
