-- Features for a caller-given candidate list (POST /v1/rerank and offline pool evaluation).
-- ?1 = FTS5 match expression, ?2 = JSON array of product ids, {{fts}} = the store's FTS5 table (the caller keeps the
-- rows to that store's available products). Candidates the query does not match get bm25 = 0.
-- Same columns, same weights as retrieve.sql.
SELECT p.rowid AS rowid, p.id AS id, p.title AS title, p.brand AS brand, p.color AS color,
       p.bullets AS bullets, p.description AS description, p.category AS category,
       p.price AS price, p.rating AS rating, p.rating_count AS rating_count, p.is_book AS is_book,
       p.title_terms AS title_terms, p.brand_terms AS brand_terms, p.color_terms AS color_terms,
       p.category_terms AS category_terms, p.text_terms AS text_terms, p.title_unique_tokens AS title_unique_tokens,
       p.bullets_tokens AS bullets_tokens, p.description_tokens AS description_tokens,
       COALESCE(m.bm25, 0) AS bm25, COALESCE(m.bm25_title, 0) AS bm25_title,
       COALESCE(m.bm25_brand, 0) AS bm25_brand, COALESCE(m.bm25_color, 0) AS bm25_color,
       COALESCE(m.bm25_bullets, 0) AS bm25_bullets, COALESCE(m.bm25_description, 0) AS bm25_description
FROM products p
LEFT JOIN (
  SELECT {{fts}}.rowid AS rowid,
         -bm25({{fts}}, 4.0, 2.0, 1.0, 1.0, 0.5) AS bm25,
         -bm25({{fts}}, 1.0, 0.0, 0.0, 0.0, 0.0) AS bm25_title,
         -bm25({{fts}}, 0.0, 1.0, 0.0, 0.0, 0.0) AS bm25_brand,
         -bm25({{fts}}, 0.0, 0.0, 1.0, 0.0, 0.0) AS bm25_color,
         -bm25({{fts}}, 0.0, 0.0, 0.0, 1.0, 0.0) AS bm25_bullets,
         -bm25({{fts}}, 0.0, 0.0, 0.0, 0.0, 1.0) AS bm25_description
  FROM {{fts}}
  WHERE {{fts}} MATCH ?1
    AND {{fts}}.rowid IN (SELECT rowid FROM products WHERE id IN (SELECT value FROM json_each(?2)))
) m ON m.rowid = p.rowid
WHERE p.id IN (SELECT value FROM json_each(?2))
