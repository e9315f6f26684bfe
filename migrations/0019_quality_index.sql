-- The quality-ordered full-text index of each store (edge/catalog/quality-index.sql, README "Scale"): retrieval's
-- bounded first pass (edge/search/retrieve-bounded.sql) reads a query's best-quality matches first. The stores that
-- exist already (migrations 0007 / 0012) get theirs here, as that file reads today, with their products indexed; a
-- store the catalogue API creates gets it from edge/catalog/store-index.ts (and one created before this migration,
-- on its next PUT; until then retrieval reads it with retrieve.sql). No table of drizzle's schema changes.
CREATE VIRTUAL TABLE IF NOT EXISTS `products_fts_esci_q` USING fts5(
	title, brand, color, bullets, description,
	content='',
	tokenize='unicode61 remove_diacritics 2'
);--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `products_fts_esci_q_ai` AFTER INSERT ON `products` WHEN new.store = 'esci' BEGIN
	INSERT INTO `products_fts_esci_q`(rowid, title, brand, color, bullets, description)
	VALUES ((((CASE WHEN new.available = 0 THEN 7 WHEN coalesce(new.rating_count, 0) >= 100000 THEN 0
  WHEN new.rating_count >= 10000 THEN 1 WHEN new.rating_count >= 1000 THEN 2
  WHEN new.rating_count >= 100 THEN 3 WHEN new.rating_count >= 10 THEN 4
  WHEN new.rating_count >= 1 THEN 5 ELSE 6 END) << 40) | new.rowid), new.title, new.brand, new.color, new.bullets, new.description);
END;--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `products_fts_esci_q_ad` AFTER DELETE ON `products` WHEN old.store = 'esci' BEGIN
	INSERT INTO `products_fts_esci_q`(`products_fts_esci_q`, rowid, title, brand, color, bullets, description)
	VALUES ('delete', (((CASE WHEN old.available = 0 THEN 7 WHEN coalesce(old.rating_count, 0) >= 100000 THEN 0
  WHEN old.rating_count >= 10000 THEN 1 WHEN old.rating_count >= 1000 THEN 2
  WHEN old.rating_count >= 100 THEN 3 WHEN old.rating_count >= 10 THEN 4
  WHEN old.rating_count >= 1 THEN 5 ELSE 6 END) << 40) | old.rowid), old.title, old.brand, old.color, old.bullets, old.description);
END;--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `products_fts_esci_q_au`
AFTER UPDATE OF title, brand, color, bullets, description, rating_count, available ON `products`
WHEN old.store = 'esci' BEGIN
	INSERT INTO `products_fts_esci_q`(`products_fts_esci_q`, rowid, title, brand, color, bullets, description)
	VALUES ('delete', (((CASE WHEN old.available = 0 THEN 7 WHEN coalesce(old.rating_count, 0) >= 100000 THEN 0
  WHEN old.rating_count >= 10000 THEN 1 WHEN old.rating_count >= 1000 THEN 2
  WHEN old.rating_count >= 100 THEN 3 WHEN old.rating_count >= 10 THEN 4
  WHEN old.rating_count >= 1 THEN 5 ELSE 6 END) << 40) | old.rowid), old.title, old.brand, old.color, old.bullets, old.description);
	INSERT INTO `products_fts_esci_q`(rowid, title, brand, color, bullets, description)
	VALUES ((((CASE WHEN new.available = 0 THEN 7 WHEN coalesce(new.rating_count, 0) >= 100000 THEN 0
  WHEN new.rating_count >= 10000 THEN 1 WHEN new.rating_count >= 1000 THEN 2
  WHEN new.rating_count >= 100 THEN 3 WHEN new.rating_count >= 10 THEN 4
  WHEN new.rating_count >= 1 THEN 5 ELSE 6 END) << 40) | new.rowid), new.title, new.brand, new.color, new.bullets, new.description);
END;--> statement-breakpoint
INSERT INTO `products_fts_esci_q`(rowid, title, brand, color, bullets, description)
SELECT (((CASE WHEN p.available = 0 THEN 7 WHEN coalesce(p.rating_count, 0) >= 100000 THEN 0
  WHEN p.rating_count >= 10000 THEN 1 WHEN p.rating_count >= 1000 THEN 2
  WHEN p.rating_count >= 100 THEN 3 WHEN p.rating_count >= 10 THEN 4
  WHEN p.rating_count >= 1 THEN 5 ELSE 6 END) << 40) | p.rowid), p.title, p.brand, p.color, p.bullets, p.description FROM products p
WHERE p.store = 'esci' AND NOT EXISTS (SELECT 1 FROM `products_fts_esci_q`);--> statement-breakpoint
CREATE VIRTUAL TABLE IF NOT EXISTS `products_fts_online__retail_q` USING fts5(
	title, brand, color, bullets, description,
	content='',
	tokenize='unicode61 remove_diacritics 2'
);--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `products_fts_online__retail_q_ai` AFTER INSERT ON `products` WHEN new.store = 'online-retail' BEGIN
	INSERT INTO `products_fts_online__retail_q`(rowid, title, brand, color, bullets, description)
	VALUES ((((CASE WHEN new.available = 0 THEN 7 WHEN coalesce(new.rating_count, 0) >= 100000 THEN 0
  WHEN new.rating_count >= 10000 THEN 1 WHEN new.rating_count >= 1000 THEN 2
  WHEN new.rating_count >= 100 THEN 3 WHEN new.rating_count >= 10 THEN 4
  WHEN new.rating_count >= 1 THEN 5 ELSE 6 END) << 40) | new.rowid), new.title, new.brand, new.color, new.bullets, new.description);
END;--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `products_fts_online__retail_q_ad` AFTER DELETE ON `products` WHEN old.store = 'online-retail' BEGIN
	INSERT INTO `products_fts_online__retail_q`(`products_fts_online__retail_q`, rowid, title, brand, color, bullets, description)
	VALUES ('delete', (((CASE WHEN old.available = 0 THEN 7 WHEN coalesce(old.rating_count, 0) >= 100000 THEN 0
  WHEN old.rating_count >= 10000 THEN 1 WHEN old.rating_count >= 1000 THEN 2
  WHEN old.rating_count >= 100 THEN 3 WHEN old.rating_count >= 10 THEN 4
  WHEN old.rating_count >= 1 THEN 5 ELSE 6 END) << 40) | old.rowid), old.title, old.brand, old.color, old.bullets, old.description);
END;--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `products_fts_online__retail_q_au`
AFTER UPDATE OF title, brand, color, bullets, description, rating_count, available ON `products`
WHEN old.store = 'online-retail' BEGIN
	INSERT INTO `products_fts_online__retail_q`(`products_fts_online__retail_q`, rowid, title, brand, color, bullets, description)
	VALUES ('delete', (((CASE WHEN old.available = 0 THEN 7 WHEN coalesce(old.rating_count, 0) >= 100000 THEN 0
  WHEN old.rating_count >= 10000 THEN 1 WHEN old.rating_count >= 1000 THEN 2
  WHEN old.rating_count >= 100 THEN 3 WHEN old.rating_count >= 10 THEN 4
  WHEN old.rating_count >= 1 THEN 5 ELSE 6 END) << 40) | old.rowid), old.title, old.brand, old.color, old.bullets, old.description);
	INSERT INTO `products_fts_online__retail_q`(rowid, title, brand, color, bullets, description)
	VALUES ((((CASE WHEN new.available = 0 THEN 7 WHEN coalesce(new.rating_count, 0) >= 100000 THEN 0
  WHEN new.rating_count >= 10000 THEN 1 WHEN new.rating_count >= 1000 THEN 2
  WHEN new.rating_count >= 100 THEN 3 WHEN new.rating_count >= 10 THEN 4
  WHEN new.rating_count >= 1 THEN 5 ELSE 6 END) << 40) | new.rowid), new.title, new.brand, new.color, new.bullets, new.description);
END;--> statement-breakpoint
INSERT INTO `products_fts_online__retail_q`(rowid, title, brand, color, bullets, description)
SELECT (((CASE WHEN p.available = 0 THEN 7 WHEN coalesce(p.rating_count, 0) >= 100000 THEN 0
  WHEN p.rating_count >= 10000 THEN 1 WHEN p.rating_count >= 1000 THEN 2
  WHEN p.rating_count >= 100 THEN 3 WHEN p.rating_count >= 10 THEN 4
  WHEN p.rating_count >= 1 THEN 5 ELSE 6 END) << 40) | p.rowid), p.title, p.brand, p.color, p.bullets, p.description FROM products p
WHERE p.store = 'online-retail' AND NOT EXISTS (SELECT 1 FROM `products_fts_online__retail_q`);
