CREATE TABLE `metrics_events` (
	`res` integer NOT NULL,
	`ts` integer NOT NULL,
	`kind` text NOT NULL,
	`name` text NOT NULL,
	`count` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`res`, `ts`, `kind`, `name`)
);
