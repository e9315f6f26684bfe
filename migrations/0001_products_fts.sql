-- Full-text index over the catalog (external content: the text lives once, in products).
-- The Python pipeline applies these same migration files to its own SQLite copy, so bm25() values match D1's.
CREATE VIRTUAL TABLE `products_fts` USING fts5(
	title, brand, color, bullets, description,
	content='products', content_rowid='rowid',
	tokenize='unicode61 remove_diacritics 2'
);
--> statement-breakpoint
CREATE TRIGGER `products_fts_ai` AFTER INSERT ON `products` BEGIN
	INSERT INTO products_fts(rowid, title, brand, color, bullets, description)
	VALUES (new.rowid, new.title, new.brand, new.color, new.bullets, new.description);
END;
--> statement-breakpoint
CREATE TRIGGER `products_fts_ad` AFTER DELETE ON `products` BEGIN
	INSERT INTO products_fts(products_fts, rowid, title, brand, color, bullets, description)
	VALUES ('delete', old.rowid, old.title, old.brand, old.color, old.bullets, old.description);
END;
--> statement-breakpoint
CREATE TRIGGER `products_fts_au` AFTER UPDATE ON `products` BEGIN
	INSERT INTO products_fts(products_fts, rowid, title, brand, color, bullets, description)
	VALUES ('delete', old.rowid, old.title, old.brand, old.color, old.bullets, old.description);
	INSERT INTO products_fts(rowid, title, brand, color, bullets, description)
	VALUES (new.rowid, new.title, new.brand, new.color, new.bullets, new.description);
END;
