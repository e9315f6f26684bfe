-- The full-text index of one store's products, shared verbatim by the edge (edge/catalog/store-index.ts: run when a
-- store is created) and the Python pipeline (vitrine_gpu.search.catalog: before a store's products), so bm25()
-- statistics are the store's own and match between the two. External content: the text lives once, in products.
-- {{fts}} = products_fts_<the store id with "-" as "__">, {{store}} = the store id (validated: [a-z0-9-] only).
-- Each statement is idempotent; FTS5 'rebuild' must never run on these tables (it would index every store's rows).
CREATE VIRTUAL TABLE IF NOT EXISTS `{{fts}}` USING fts5(
	title, brand, color, bullets, description,
	content='products', content_rowid='rowid',
	tokenize='unicode61 remove_diacritics 2'
);
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `{{fts}}_ai` AFTER INSERT ON `products` WHEN new.store = '{{store}}' BEGIN
	INSERT INTO `{{fts}}`(rowid, title, brand, color, bullets, description)
	VALUES (new.rowid, new.title, new.brand, new.color, new.bullets, new.description);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `{{fts}}_ad` AFTER DELETE ON `products` WHEN old.store = '{{store}}' BEGIN
	INSERT INTO `{{fts}}`(`{{fts}}`, rowid, title, brand, color, bullets, description)
	VALUES ('delete', old.rowid, old.title, old.brand, old.color, old.bullets, old.description);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `{{fts}}_au` AFTER UPDATE OF title, brand, color, bullets, description ON `products`
WHEN old.store = '{{store}}' BEGIN
	INSERT INTO `{{fts}}`(`{{fts}}`, rowid, title, brand, color, bullets, description)
	VALUES ('delete', old.rowid, old.title, old.brand, old.color, old.bullets, old.description);
	INSERT INTO `{{fts}}`(rowid, title, brand, color, bullets, description)
	VALUES (new.rowid, new.title, new.brand, new.color, new.bullets, new.description);
END;
