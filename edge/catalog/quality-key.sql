-- The key of a product in its store's quality-ordered index (quality-index.sql): (tier << 40) | rowid, the tier
-- precomputed from its rating count, one per decade (100,000+ ratings: 0 … none: 6), unavailable products 7.
-- {{row}} = the row's name (new, old, p). The low 40 bits are products.rowid (a key & 1099511627775).
(((CASE WHEN {{row}}.available = 0 THEN 7 WHEN coalesce({{row}}.rating_count, 0) >= 100000 THEN 0
  WHEN {{row}}.rating_count >= 10000 THEN 1 WHEN {{row}}.rating_count >= 1000 THEN 2
  WHEN {{row}}.rating_count >= 100 THEN 3 WHEN {{row}}.rating_count >= 10 THEN 4
  WHEN {{row}}.rating_count >= 1 THEN 5 ELSE 6 END) << 40) | {{row}}.rowid)
