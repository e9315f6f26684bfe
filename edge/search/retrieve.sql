-- Candidate retrieval, shared verbatim by the edge (D1) and the Python pipeline (sqlite3), so that the
-- BM25 features the light model was trained on are the ones the edge computes.
-- ?1 = FTS5 match expression (see matchExpression in features), ?2 = max candidates, ?3 = the store (products.store);
-- {{fts}} = the store's own FTS5 table (edge/catalog/store-index.sql). Unavailable products are never retrieved;
-- equal scores are ordered by product id, so the order does not depend on rowids (which differ between databases).
-- bm25() is "lower is better"; we negate it. Per-field columns use weights that zero the other fields.
-- Column weights (title, brand, color, bullets, description) of the combined score: 4, 2, 1, 1, 0.5.
-- *_terms / *_tokens: token columns precomputed by the catalog build (features.token_columns).
SELECT p.rowid AS rowid, p.id AS id, p.title AS title, p.brand AS brand, p.color AS color,
       p.bullets AS bullets, p.description AS description, p.category AS category,
       p.price AS price, p.rating AS rating, p.rating_count AS rating_count, p.is_book AS is_book,
       p.title_terms AS title_terms, p.brand_terms AS brand_terms, p.color_terms AS color_terms,
       p.category_terms AS category_terms, p.text_terms AS text_terms, p.title_unique_tokens AS title_unique_tokens,
       p.bullets_tokens AS bullets_tokens, p.description_tokens AS description_tokens,
       -bm25({{fts}}, 4.0, 2.0, 1.0, 1.0, 0.5) AS bm25,
       -bm25({{fts}}, 1.0, 0.0, 0.0, 0.0, 0.0) AS bm25_title,
       -bm25({{fts}}, 0.0, 1.0, 0.0, 0.0, 0.0) AS bm25_brand,
       -bm25({{fts}}, 0.0, 0.0, 1.0, 0.0, 0.0) AS bm25_color,
       -bm25({{fts}}, 0.0, 0.0, 0.0, 1.0, 0.0) AS bm25_bullets,
       -bm25({{fts}}, 0.0, 0.0, 0.0, 0.0, 1.0) AS bm25_description
FROM {{fts}} JOIN products p ON p.rowid = {{fts}}.rowid
WHERE {{fts}} MATCH ?1 AND p.store = ?3 AND p.available = 1
ORDER BY bm25({{fts}}, 4.0, 2.0, 1.0, 1.0, 0.5), p.id
LIMIT ?2
