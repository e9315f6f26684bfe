-- Candidate retrieval with a bounded first pass (README "Scale"): the same rows, columns and order as retrieve.sql
-- whenever the query matches at most ?4 products, at a cost bounded by ?4 rather than by the number of matches.
-- One pass reads the query's postings in the store's quality-ordered index ({{fts}}_q, edge/catalog/quality-index.sql:
-- best quality tier first) and stops after ?4 of them, scoring each (its bm25 statistics are the store index's: the
-- same documents); the best ?2 available products by (bm25, id) are kept and only their rows read. One FTS5 cursor:
-- bm25 counts each query term's whole doclist once per cursor (its IDF), the one cost here that grows with the catalogue.
-- Beyond ?4 matches (a head query of a large store), the result is the best ?2 among the ?4 best-quality matches.
-- ?1 = FTS5 match expression, ?2 = max candidates, ?3 = the store, ?4 = the first pass's bound (SEARCH_FIRST_PASS_MAX).
-- 1099511627775 = 2^40 - 1: a key's products.rowid bits.
WITH first AS (
  SELECT rowid AS key, bm25({{fts}}_q, 4.0, 2.0, 1.0, 1.0, 0.5) AS score,
         -bm25({{fts}}_q, 4.0, 2.0, 1.0, 1.0, 0.5) AS bm25,
         -bm25({{fts}}_q, 1.0, 0.0, 0.0, 0.0, 0.0) AS bm25_title,
         -bm25({{fts}}_q, 0.0, 1.0, 0.0, 0.0, 0.0) AS bm25_brand,
         -bm25({{fts}}_q, 0.0, 0.0, 1.0, 0.0, 0.0) AS bm25_color,
         -bm25({{fts}}_q, 0.0, 0.0, 0.0, 1.0, 0.0) AS bm25_bullets,
         -bm25({{fts}}_q, 0.0, 0.0, 0.0, 0.0, 1.0) AS bm25_description
  FROM {{fts}}_q WHERE {{fts}}_q MATCH ?1 ORDER BY rowid LIMIT ?4
), best AS (
  SELECT f.*, p.id AS id FROM first f JOIN products p ON p.rowid = (f.key & 1099511627775)
  WHERE p.store = ?3 AND p.available = 1
  ORDER BY f.score, p.id LIMIT ?2
)
SELECT p.rowid AS rowid, p.id AS id, p.title AS title, p.brand AS brand, p.color AS color,
       p.bullets AS bullets, p.description AS description, p.category AS category,
       p.price AS price, p.rating AS rating, p.rating_count AS rating_count, p.is_book AS is_book,
       p.title_terms AS title_terms, p.brand_terms AS brand_terms, p.color_terms AS color_terms,
       p.category_terms AS category_terms, p.text_terms AS text_terms, p.title_unique_tokens AS title_unique_tokens,
       p.bullets_tokens AS bullets_tokens, p.description_tokens AS description_tokens,
       b.bm25 AS bm25, b.bm25_title AS bm25_title, b.bm25_brand AS bm25_brand, b.bm25_color AS bm25_color,
       b.bm25_bullets AS bm25_bullets, b.bm25_description AS bm25_description
FROM best b JOIN products p ON p.rowid = (b.key & 1099511627775)
ORDER BY b.score, p.id
