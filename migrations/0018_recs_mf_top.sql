-- Recommendations at scale (issue 23): the MF source's precomputed top-N lists, so the edge reads per request only the
-- rows it needs instead of a version's whole item matrix (edge/db/schema-recs.ts recsMfTop, edge/recs/ann/). One row per
-- user and per sold item of a recs-light version: `items` a JSON array of item ids, best first, `scores` their float32
-- MF dot products (written by the pipeline, vitrine_gpu.recs.mf_top). The trend index serves the store's trending top
-- list (and the last-known-good list) without scanning the version's item stats.
CREATE TABLE `recs_mf_top` (
	`store` text NOT NULL,
	`model_version` text NOT NULL,
	`kind` text NOT NULL,
	`key` text NOT NULL,
	`items` text NOT NULL,
	`scores` text NOT NULL,
	PRIMARY KEY(`store`, `model_version`, `kind`, `key`)
);
--> statement-breakpoint
CREATE INDEX `recs_item_stats_by_trend` ON `recs_item_stats` (`store`,`model_version`,`trend`,`item_id`);
