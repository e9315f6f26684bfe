"""GPU autoscaling against moto's server: `deploy_endpoint.py deploy` creates the endpoint and, once it is InService,
each variant's scalable target (min/max), the target-tracking policy on SageMakerVariantInvocationsPerInstance (the
target derived from the measured throughput, the scale-in cooldown), the step policy on the shed rate and the
CloudWatch alarm that drives it; a re-deploy updates them in place. (moto keeps one state per process: the endpoint
is named apart from test_release_endpoint.py's.)"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
import pytest

# the tools (infra/sagemaker) and the shared moto fixture (moto_server.py, a plugin)
sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "sagemaker"), str(Path(__file__).resolve().parent)]
import autoscaling as scaling  # noqa: E402
import deploy_endpoint as dep  # noqa: E402

pytest_plugins = ["moto_server"]

REGION = "us-east-1"


def deploy_args(url: str, *extra: str) -> list[str]:
    return [
        "deploy", "--region", REGION, "--endpoint-name", "vitrine-autoscaled",
        "--image-uri", "123456789012.dkr.ecr.us-east-1.amazonaws.com/vitrine-gpu:abc",
        "--role-arn", "arn:aws:iam::123456789012:role/vitrine-sagemaker",
        "--variant", "control=s3://vitrine-models/a.tar.gz:0.5", "--variant", "treatment=s3://vitrine-models/b.tar.gz:0.5",
        "--instance-type", "ml.g4dn.xlarge", "--endpoint-url", url, *extra,
    ]  # fmt: skip


def test_the_target_is_a_safe_fraction_of_the_measured_maximum() -> None:
    # README "GPU-tier performance": ~500 pairs/s at 50 pairs a request = 10 requests/s = 600 a minute at most
    assert scaling.target_invocations(10.0, 0.5) == 300.0
    assert scaling.target_invocations(42.5, 0.6) == 1530.0
    steps = scaling.step_adjustments(scaling.Plan())
    # bounds relative to the 1 % threshold: [1 %, 5 %) +1, [5 %, 20 %) +2, ≥ 20 % +4
    assert steps == [
        {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 0.04, "ScalingAdjustment": 1},
        {"MetricIntervalLowerBound": 0.04, "MetricIntervalUpperBound": 0.19, "ScalingAdjustment": 2},
        {"MetricIntervalLowerBound": 0.19, "ScalingAdjustment": 4},
    ]
    with pytest.raises(ValueError):
        scaling.Plan(min_instances=3, max_instances=2)


def test_deploy_creates_the_endpoint_with_its_scaling_policies_and_alarm(aws: str) -> None:
    dep.main(deploy_args(aws, "--min", "2", "--max", "6", "--measured-rps", "12", "--safe-fraction", "0.5"))
    sm = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws)
    aas = boto3.client("application-autoscaling", region_name=REGION, endpoint_url=aws)
    cw = boto3.client("cloudwatch", region_name=REGION, endpoint_url=aws)
    assert sm.describe_endpoint(EndpointName="vitrine-autoscaled")["EndpointStatus"] == "InService"

    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert sorted((t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets) == [
        ("endpoint/vitrine-autoscaled/variant/control", 2, 6),
        ("endpoint/vitrine-autoscaled/variant/treatment", 2, 6),
    ]
    assert {t["ScalableDimension"] for t in targets} == {"sagemaker:variant:DesiredInstanceCount"}

    policies = aas.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId="endpoint/vitrine-autoscaled/variant/control"
    )["ScalingPolicies"]
    by_type = {p["PolicyType"]: p for p in policies}
    tt = by_type["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"]
    assert tt["TargetValue"] == 360.0  # 12 requests/s × 60 × 0.5
    assert tt["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert tt["ScaleInCooldown"] == 600 and tt["ScaleOutCooldown"] == 60
    step = by_type["StepScaling"]
    assert step["StepScalingPolicyConfiguration"]["AdjustmentType"] == "ChangeInCapacity"
    assert [s["ScalingAdjustment"] for s in step["StepScalingPolicyConfiguration"]["StepAdjustments"]] == [1, 2, 4]

    alarms = {a["AlarmName"]: a for a in cw.describe_alarms()["MetricAlarms"]}
    alarm = alarms[scaling.alarm_name("vitrine-autoscaled", "control")]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Vitrine/GpuTier", "ShedRate")
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        "EndpointName": "vitrine-autoscaled",
        "VariantName": "control",
    }
    assert alarm["Threshold"] == 0.01 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["EvaluationPeriods"] == 2 and alarm["AlarmActions"] == [step["PolicyARN"]]
    assert scaling.alarm_name("vitrine-autoscaled", "treatment") in alarms
    memory = alarms[scaling.memory_alarm_name("vitrine-autoscaled", "control")]
    assert (memory["Namespace"], memory["MetricName"]) == ("/aws/sagemaker/Endpoints", "MemoryUtilization")
    assert memory["Threshold"] == 90.0 and memory["EvaluationPeriods"] == 2

    # the container knows which endpoint and variant its shed-rate metric is for
    model = sm.describe_model(
        ModelName=sm.describe_endpoint_config(
            EndpointConfigName=sm.describe_endpoint(EndpointName="vitrine-autoscaled")["EndpointConfigName"]
        )["ProductionVariants"][0]["ModelName"]
    )
    env = model["PrimaryContainer"]["Environment"]
    assert env["VITRINE_ENDPOINT_NAME"] == "vitrine-autoscaled" and env["VITRINE_VARIANT_NAME"] == "control"


def test_a_redeploy_updates_the_bounds_in_place(aws: str) -> None:
    scaling.apply("vitrine-autoscaled", ["control"], scaling.Plan(min_instances=1, max_instances=10), REGION, aws)
    aas = boto3.client("application-autoscaling", region_name=REGION, endpoint_url=aws)
    (target,) = aas.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=["endpoint/vitrine-autoscaled/variant/control"]
    )["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 10)
    policies = aas.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId="endpoint/vitrine-autoscaled/variant/control"
    )["ScalingPolicies"]
    assert sorted(p["PolicyType"] for p in policies) == ["StepScaling", "TargetTrackingScaling"]  # no duplicates
