-- Token columns precomputed by the catalog build (gpu-tier features.token_columns) and read by computeFeatures
-- instead of tokenising product text per request; NULL = not precomputed (the raw text is tokenised instead).
ALTER TABLE `products` ADD `title_terms` text;--> statement-breakpoint
ALTER TABLE `products` ADD `brand_terms` text;--> statement-breakpoint
ALTER TABLE `products` ADD `color_terms` text;--> statement-breakpoint
ALTER TABLE `products` ADD `category_terms` text;--> statement-breakpoint
ALTER TABLE `products` ADD `text_terms` text;--> statement-breakpoint
ALTER TABLE `products` ADD `title_unique_tokens` integer;--> statement-breakpoint
ALTER TABLE `products` ADD `bullets_tokens` integer;--> statement-breakpoint
ALTER TABLE `products` ADD `description_tokens` integer;