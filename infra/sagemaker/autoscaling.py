#!/usr/bin/env python3
"""Application Auto Scaling for the GPU tier's endpoint variants (boto3), applied by `deploy_endpoint.py deploy` once
the endpoint is InService, or alone:

  python infra/sagemaker/autoscaling.py --region eu-west-1 --endpoint-name vitrine-ranker --variant live \
      --min 1 --max 8 --measured-rps 10.0 [--safe-fraction 0.5] [--dry-run]

Per variant (resource `endpoint/<endpoint>/variant/<variant>`, dimension `sagemaker:variant:DesiredInstanceCount`):
1. RegisterScalableTarget — `--min` .. `--max` instances.
2. Target tracking on `SageMakerVariantInvocationsPerInstance` (invocations per instance per minute): target =
   safe fraction × the measured maximum per instance (`target_invocations`), scale-out cooldown 60 s, scale-in
   cooldown 600 s (a GPU instance takes minutes to come up: don't give capacity back on a dip).
3. Step scaling on the admission-control shed rate: the gpu-tier emits `ShedRate` (503 overloaded ÷ requests, per
   minute) to CloudWatch (`Vitrine/GpuTier`, dimensions EndpointName + VariantName: the embedded metric format
   lines of `vitrine_gpu/server/cloudwatch.py`); the alarm `<endpoint>-<variant>-shedding` (> 1 % for 2 of 2
   minutes) adds +1 instance under 5 %, +2 under 20 %, +4 above — the tier refusing work it could do with more
   capacity scales out at once, before the invocation average catches up. Target tracking alone scales in.
4. The alarm `<endpoint>-<variant>-memory`: SageMaker's `MemoryUtilization` above 90 % for 2 minutes (the edge's
   gpu_memory alert cannot scrape a SageMaker endpoint's /metrics).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

NAMESPACE = "Vitrine/GpuTier"  # the gpu-tier's own CloudWatch metrics (embedded metric format)
SHED_METRIC = "ShedRate"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@dataclass(frozen=True)
class Plan:
    """One variant's scaling: bounds, the invocation target and the shed-rate steps."""

    min_instances: int = 1
    max_instances: int = 8
    measured_rps: float = 10.0  # the highest sustained requests/s one instance served (bench), see target_invocations
    safe_fraction: float = 0.5
    scale_in_cooldown_s: int = 600
    scale_out_cooldown_s: int = 60
    shed_threshold: float = 0.01  # alarm: more than 1 % of requests shed...
    shed_periods: int = 2  # ...in each of 2 one-minute periods
    # (upper bound of the shed rate, instances added); bounds are absolute rates, the last one open-ended
    shed_steps: tuple[tuple[float | None, int], ...] = ((0.05, 1), (0.20, 2), (None, 4))

    def __post_init__(self) -> None:
        if not 1 <= self.min_instances <= self.max_instances:
            raise ValueError(f"need 1 <= min ({self.min_instances}) <= max ({self.max_instances})")
        if not 0 < self.safe_fraction <= 1 or self.measured_rps <= 0:
            raise ValueError("safe fraction in (0, 1] and a positive measured throughput")


def target_invocations(measured_rps: float, safe_fraction: float) -> float:
    """The per-instance invocations a minute to track: a safe fraction of the measured maximum (requests/s × 60).
    Headroom for the minute it takes to notice and the minutes a new instance takes to serve."""
    return round(measured_rps * 60 * safe_fraction, 1)


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def alarm_name(endpoint: str, variant: str) -> str:
    return f"{endpoint}-{variant}-shedding"


def step_adjustments(plan: Plan) -> list[dict[str, Any]]:
    """The shed-rate steps as StepAdjustments (bounds relative to the alarm threshold)."""
    out, lower = [], 0.0
    for upper, add in plan.shed_steps:
        step: dict[str, Any] = {"MetricIntervalLowerBound": round(lower, 6), "ScalingAdjustment": add}
        if upper is not None:
            step["MetricIntervalUpperBound"] = round(upper - plan.shed_threshold, 6)
            lower = upper - plan.shed_threshold
        out.append(step)
    return out


def memory_alarm_name(endpoint: str, variant: str) -> str:
    return f"{endpoint}-{variant}-memory"


def memory_alarm(endpoint: str, variant: str, threshold_pct: float = 90.0) -> dict[str, Any]:
    """The instances' memory in use above `threshold_pct` % for 2 of 2 minutes (SageMaker's own instance metric,
    `/aws/sagemaker/Endpoints` `MemoryUtilization`): the production twin of the edge's gpu_memory alert, which reads
    the tier's /metrics where it can reach it (a SageMaker endpoint serves only /invocations and /ping)."""
    return {
        "AlarmName": memory_alarm_name(endpoint, variant),
        "AlarmDescription": f"vitrine gpu-tier {endpoint}/{variant}: memory in use above {threshold_pct:g} %",
        "Namespace": "/aws/sagemaker/Endpoints",
        "MetricName": "MemoryUtilization",
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": threshold_pct,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "missing",
    }


def scaling_requests(endpoint: str, variant: str, plan: Plan) -> dict[str, Any]:
    """Every request for one variant; the alarm's AlarmActions is filled with the step policy's ARN when applied."""
    rid = resource_id(endpoint, variant)
    common = {"ServiceNamespace": "sagemaker", "ResourceId": rid, "ScalableDimension": DIMENSION}
    return {
        "RegisterScalableTarget": {**common, "MinCapacity": plan.min_instances, "MaxCapacity": plan.max_instances},
        "TargetTracking": {
            **common,
            "PolicyName": f"{endpoint}-{variant}-invocations",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": target_invocations(plan.measured_rps, plan.safe_fraction),
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "ScaleInCooldown": plan.scale_in_cooldown_s,
                "ScaleOutCooldown": plan.scale_out_cooldown_s,
            },
        },
        "StepScaling": {
            **common,
            "PolicyName": f"{endpoint}-{variant}-shedding",
            "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": {
                "AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": step_adjustments(plan),
                "Cooldown": plan.scale_out_cooldown_s * 2,
                "MetricAggregationType": "Average",
            },
        },
        "PutMetricAlarm": {
            "AlarmName": alarm_name(endpoint, variant),
            "AlarmDescription": f"vitrine gpu-tier {endpoint}/{variant} sheds > {plan.shed_threshold:.0%} of requests "
            "(admission control): add instances",
            "Namespace": NAMESPACE,
            "MetricName": SHED_METRIC,
            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
            "Statistic": "Average",
            "Period": 60,
            "EvaluationPeriods": plan.shed_periods,
            "DatapointsToAlarm": plan.shed_periods,
            "Threshold": plan.shed_threshold,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [],
        },
    }


def apply(
    endpoint: str, variants: list[str], plan: Plan, region: str, endpoint_url: str | None = None
) -> dict[str, dict[str, Any]]:
    """Registers every variant and puts its policies and alarm (idempotent: re-running updates them). Returns the
    requests sent, per variant, with the step policy's ARN in the alarm's actions."""
    import boto3

    aas = boto3.client("application-autoscaling", region_name=region, endpoint_url=endpoint_url)
    cw = boto3.client("cloudwatch", region_name=region, endpoint_url=endpoint_url)
    sent = {}
    for variant in variants:
        req = scaling_requests(endpoint, variant, plan)
        aas.register_scalable_target(**req["RegisterScalableTarget"])
        aas.put_scaling_policy(**req["TargetTracking"])
        step_arn = aas.put_scaling_policy(**req["StepScaling"])["PolicyARN"]
        req["PutMetricAlarm"]["AlarmActions"] = [step_arn]
        cw.put_metric_alarm(**req["PutMetricAlarm"])
        cw.put_metric_alarm(**memory_alarm(endpoint, variant))
        sent[variant] = req
        print(
            f"autoscaling {resource_id(endpoint, variant)}: {plan.min_instances}..{plan.max_instances} instances, "
            f"target {req['TargetTracking']['TargetTrackingScalingPolicyConfiguration']['TargetValue']} "
            f"invocations/instance/min, step policy on {SHED_METRIC} > {plan.shed_threshold:.0%}"
        )
    return sent


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The scaling flags (shared with deploy_endpoint.py deploy)."""
    d = Plan()
    p.add_argument(
        "--min", dest="min_instances", type=int, default=d.min_instances, help="instances per variant, at least"
    )
    p.add_argument(
        "--max", dest="max_instances", type=int, default=d.max_instances, help="instances per variant, at most"
    )
    p.add_argument(
        "--measured-rps",
        type=float,
        default=d.measured_rps,
        help="requests/s one instance sustains at its measured maximum (bench:gpu on the instance type; default 10: "
        "~500 pairs/s ÷ 50 pairs, README 'GPU autoscaling')",
    )
    p.add_argument("--safe-fraction", type=float, default=d.safe_fraction, help="target = this × the measured maximum")
    p.add_argument("--scale-in-cooldown", dest="scale_in_cooldown_s", type=int, default=d.scale_in_cooldown_s)
    p.add_argument("--shed-threshold", type=float, default=d.shed_threshold, help="shed rate that adds capacity")


def plan_of(a: argparse.Namespace) -> Plan:
    return Plan(
        min_instances=a.min_instances,
        max_instances=a.max_instances,
        measured_rps=a.measured_rps,
        safe_fraction=a.safe_fraction,
        scale_in_cooldown_s=a.scale_in_cooldown_s,
        shed_threshold=a.shed_threshold,
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--region", required=True)
    p.add_argument("--endpoint-name", required=True)
    p.add_argument("--variant", action="append", required=True, help="a production variant (repeatable)")
    p.add_argument("--endpoint-url", help=argparse.SUPPRESS)  # tests: moto's server
    p.add_argument("--dry-run", action="store_true", help="print the requests, call nothing")
    add_arguments(p)
    a = p.parse_args(argv)
    plan = plan_of(a)
    if a.dry_run:
        print(json.dumps({v: scaling_requests(a.endpoint_name, v, plan) for v in a.variant}, indent=1))
        return
    apply(a.endpoint_name, a.variant, plan, a.region, a.endpoint_url)


if __name__ == "__main__":
    main()
