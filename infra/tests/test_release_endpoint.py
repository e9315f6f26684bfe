"""infra/sagemaker/release_endpoint.py against moto's server (a real HTTP endpoint speaking the AWS APIs): the
alarms, model, endpoint config and endpoint it creates, and the blue/green canary UpdateEndpoint it sends for the
next version, checked against botocore's SageMaker service model (moto does not implement UpdateEndpoint)."""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
import pytest
from botocore.validate import ParamValidator

# the tools (infra/sagemaker) and the shared moto fixture (moto_server.py, a plugin)
sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "sagemaker"), str(Path(__file__).resolve().parent)]
import release_endpoint as rel  # noqa: E402

pytest_plugins = ["moto_server"]


def args(url: str, version: str) -> list[str]:
    return [
        "--region", "us-east-1", "--endpoint-name", "vitrine-ranker", "--version", version,
        "--model-data", f"s3://vitrine-models/{version}.tar.gz",
        "--image-uri", "123456789012.dkr.ecr.us-east-1.amazonaws.com/vitrine-gpu:abc",
        "--role-arn", "arn:aws:iam::123456789012:role/vitrine-sagemaker", "--instance-type", "ml.g4dn.xlarge",
        "--canary-percent", "10", "--bake-seconds", "300", "--p99-ms", "250", "--endpoint-url", url,
    ]  # fmt: skip


def test_first_release_creates_the_endpoint_with_guardrail_alarms(aws: str) -> None:
    out = rel.release(rel.parse_args(args(aws, "heavy-20260101000000-aaaaaaaa")), stamp="20260101000000")
    assert out["action"] == "created"
    sm = boto3.client("sagemaker", region_name="us-east-1", endpoint_url=aws)
    cw = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=aws)
    ep = sm.describe_endpoint(EndpointName="vitrine-ranker")
    cfg = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
    (variant,) = cfg["ProductionVariants"]
    assert variant["VariantName"] == "live" and variant["ModelName"] == "vitrine-ranker-heavy-20260101000000-aaaaaaaa"
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://vitrine-models/heavy-20260101000000-aaaaaaaa.tar.gz"
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms()["MetricAlarms"]}
    latency, errors = rel.alarm_names("vitrine-ranker")
    assert alarms[latency]["MetricName"] == "ModelLatency" and alarms[latency]["Threshold"] == 250_000
    assert alarms[latency]["ExtendedStatistic"] == "p99"
    assert alarms[errors]["MetricName"] == "Invocation5XXErrors" and alarms[errors]["Threshold"] == 5
    dims = {d["Name"]: d["Value"] for d in alarms[errors]["Dimensions"]}
    assert dims == {"EndpointName": "vitrine-ranker", "VariantName": "live"}


def test_next_release_is_a_canary_update_with_alarm_rollback(aws: str) -> None:
    a = rel.parse_args(args(aws, "heavy-20260102000000-bbbbbbbb"))
    sm = boto3.client("sagemaker", region_name="us-east-1", endpoint_url=aws)
    assert rel.endpoint_exists(sm, "vitrine-ranker")  # from the first release: this one updates
    reqs = rel.release_requests(a, "20260102000000")
    update = reqs["UpdateEndpoint"]
    shape = sm.meta.service_model.operation_model("UpdateEndpoint").input_shape
    report = ParamValidator().validate(update, shape)
    assert not report.has_errors(), report.generate_report()
    policy = update["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        "WaitIntervalInSeconds": 300,
    }
    alarms = [x["AlarmName"] for x in update["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
    assert alarms == list(rel.alarm_names("vitrine-ranker"))
    # the new model and config land in moto as the update would reference them
    sm.create_model(**reqs["CreateModel"])
    sm.create_endpoint_config(**reqs["CreateEndpointConfig"])
    assert (
        sm.describe_endpoint_config(EndpointConfigName=update["EndpointConfigName"])["ProductionVariants"][0][
            "ModelName"
        ]
        == reqs["CreateModel"]["ModelName"]
    )


def test_bad_arguments_exit_early() -> None:
    with pytest.raises(SystemExit):
        rel.parse_args(["--region", "x"])
