/** Failover drill tables (issue: drills). */
export {};
