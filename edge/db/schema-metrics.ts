/** Monitoring tables (issue: monitoring platform). */
export {};
