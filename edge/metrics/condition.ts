/** One alert rule instance as an evaluation round (or an owner: drills, releases) states it. */
export interface Condition {
  id: string;
  rule: string;
  kind: "slo" | "anomaly" | "drift" | "drill" | "release" | "business" | "routing" | "events";
  /** page: wake someone; ticket: business hours; notice: for the record (a refused retrain), nothing to fix */
  severity: "page" | "ticket" | "notice";
  active: boolean;
  value: number | null;
  threshold: number | null;
  summary: string;
  forS: number;
  labels: Record<string, string>;
}
