-- A store's quality-ordered full-text index (edge only; README "Scale"), beside its store index (store-index.sql):
-- the same documents, so bm25() statistics and values are the same, but contentless and keyed by
-- {{key:…}} = (quality tier << 40) | products.rowid, so each term's postings run best tier first and a bounded first
-- pass reads only the best M matches (edge/search/retrieve-bounded.sql). The tier is precomputed from the rating count
-- (one per decade: 100,000+ ratings first, none last); unavailable products come after every tier. A product's key
-- changes with its rating count or availability: the update trigger moves it.
-- {{fts}}, {{store}} as in store-index.sql; {{key:ROW}} = quality-key.sql for that row (edge/catalog/store-index.ts).
CREATE VIRTUAL TABLE IF NOT EXISTS `{{fts}}_q` USING fts5(
	title, brand, color, bullets, description,
	content='',
	tokenize='unicode61 remove_diacritics 2'
);
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `{{fts}}_q_ai` AFTER INSERT ON `products` WHEN new.store = '{{store}}' BEGIN
	INSERT INTO `{{fts}}_q`(rowid, title, brand, color, bullets, description)
	VALUES ({{key:new}}, new.title, new.brand, new.color, new.bullets, new.description);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `{{fts}}_q_ad` AFTER DELETE ON `products` WHEN old.store = '{{store}}' BEGIN
	INSERT INTO `{{fts}}_q`(`{{fts}}_q`, rowid, title, brand, color, bullets, description)
	VALUES ('delete', {{key:old}}, old.title, old.brand, old.color, old.bullets, old.description);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `{{fts}}_q_au`
AFTER UPDATE OF title, brand, color, bullets, description, rating_count, available ON `products`
WHEN old.store = '{{store}}' BEGIN
	INSERT INTO `{{fts}}_q`(`{{fts}}_q`, rowid, title, brand, color, bullets, description)
	VALUES ('delete', {{key:old}}, old.title, old.brand, old.color, old.bullets, old.description);
	INSERT INTO `{{fts}}_q`(rowid, title, brand, color, bullets, description)
	VALUES ({{key:new}}, new.title, new.brand, new.color, new.bullets, new.description);
END;
--> statement-breakpoint
-- a store whose products were written before this index existed: index them once (nothing when it has any row)
INSERT INTO `{{fts}}_q`(rowid, title, brand, color, bullets, description)
SELECT {{key:p}}, p.title, p.brand, p.color, p.bullets, p.description FROM products p
WHERE p.store = '{{store}}' AND NOT EXISTS (SELECT 1 FROM `{{fts}}_q`);
