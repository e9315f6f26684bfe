"""A heavy-model release on SageMaker, as code: the production counterpart of `npm run release -- --kind heavy`.

    python infra/sagemaker/release_endpoint.py --region us-east-1 --endpoint-name vitrine-ranker \
      --version heavy-2026...-abcd1234 --model-data s3://BUCKET/vitrine/heavy-....tar.gz \
      --image-uri ACCOUNT.dkr.ecr.REGION.amazonaws.com/vitrine-gpu:TAG --role-arn arn:aws:iam::ACCOUNT:role/vitrine-sagemaker \
      [--canary-percent 10] [--bake-seconds 600] [--p99-ms 300] [--max-5xx 5] [--dry-run] [--endpoint-url URL]

1. CloudWatch alarms on the endpoint's live variant (`PutMetricAlarm`): p99 `ModelLatency` above `--p99-ms` and
   `Invocation5XXErrors` above `--max-5xx` per minute — the guardrails SageMaker watches during the rollout.
2. `CreateModel` for the version (the gpu-tier image; the tarball from `deploy_endpoint.py package`) and
   `CreateEndpointConfig` with one production variant `live` serving it.
3. A new endpoint: `CreateEndpoint`. An existing one: `UpdateEndpoint` with a `DeploymentConfig` — a blue/green
   update whose traffic shifts as a CANARY (`--canary-percent` of capacity first, the rest after `--bake-seconds`)
   with `AutoRollbackConfiguration` on both alarms: SageMaker itself rolls back to the old fleet when one fires.

`--dry-run` prints the requests and calls nothing; `--endpoint-url` points boto3 at another endpoint (the tests use
moto's server). Credentials come from the usual boto3 chain.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

LIVE = "live"


def alarm_names(endpoint: str) -> tuple[str, str]:
    return f"{endpoint}-{LIVE}-p99-latency", f"{endpoint}-{LIVE}-5xx"


def release_requests(a: argparse.Namespace, stamp: str) -> dict[str, Any]:
    """Every request of the release, by API name (UpdateEndpoint and CreateEndpoint: one of them is sent)."""
    latency, errors = alarm_names(a.endpoint_name)
    dims = [{"Name": "EndpointName", "Value": a.endpoint_name}, {"Name": "VariantName", "Value": LIVE}]
    model_name = f"{a.endpoint_name}-{a.version}"[:63]
    config_name = f"{a.endpoint_name}-{stamp}"[:63]
    common_alarm = {"Namespace": "AWS/SageMaker", "Dimensions": dims, "Period": 60, "EvaluationPeriods": 2}
    return {
        "PutMetricAlarm": [
            {
                **common_alarm,
                "AlarmName": latency,
                "AlarmDescription": f"vitrine release guardrail: p99 model latency > {a.p99_ms} ms",
                "MetricName": "ModelLatency",  # microseconds
                "ExtendedStatistic": "p99",
                "Threshold": float(a.p99_ms * 1000),
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
            },
            {
                **common_alarm,
                "AlarmName": errors,
                "AlarmDescription": f"vitrine release guardrail: > {a.max_5xx} invocation 5xx a minute",
                "MetricName": "Invocation5XXErrors",
                "Statistic": "Sum",
                "Threshold": float(a.max_5xx),
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
            },
        ],
        "CreateModel": {
            "ModelName": model_name,
            "ExecutionRoleArn": a.role_arn,
            "PrimaryContainer": {
                "Image": a.image_uri,
                "ModelDataUrl": a.model_data,
                "Mode": "SingleModel",
                "Environment": {"VITRINE_LOG_LEVEL": "info"},
            },
            "Tags": [{"Key": "app", "Value": "vitrine"}, {"Key": "version", "Value": a.version[:256]}],
        },
        "CreateEndpointConfig": {
            "EndpointConfigName": config_name,
            "ProductionVariants": [
                {
                    "VariantName": LIVE,
                    "ModelName": model_name,
                    "InstanceType": a.instance_type,
                    "InitialInstanceCount": a.instance_count,
                    "InitialVariantWeight": 1.0,
                }
            ],
            "Tags": [{"Key": "app", "Value": "vitrine"}],
        },
        "CreateEndpoint": {
            "EndpointName": a.endpoint_name,
            "EndpointConfigName": config_name,
            "Tags": [{"Key": "app", "Value": "vitrine"}],
        },
        "UpdateEndpoint": {
            "EndpointName": a.endpoint_name,
            "EndpointConfigName": config_name,
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "CANARY",
                        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": a.canary_percent},
                        "WaitIntervalInSeconds": a.bake_seconds,
                    },
                    "TerminationWaitInSeconds": a.bake_seconds,
                    "MaximumExecutionTimeoutInSeconds": max(600, 4 * a.bake_seconds + 1800),
                },
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": latency}, {"AlarmName": errors}]},
            },
        },
    }


def endpoint_exists(sm: Any, name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        sm.describe_endpoint(EndpointName=name)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationException":  # "Could not find endpoint"
            return False
        raise


def release(a: argparse.Namespace, stamp: str | None = None) -> dict[str, Any]:
    """Send the release's requests; returns {"action": "created"|"updated", "requests": ...}."""
    reqs = release_requests(a, stamp or time.strftime("%Y%m%d%H%M%S", time.gmtime()))
    if a.dry_run:
        print(json.dumps(reqs, indent=1))
        return {"action": "dry-run", "requests": reqs}
    import boto3

    kw = {"region_name": a.region, **({"endpoint_url": a.endpoint_url} if a.endpoint_url else {})}
    cw, sm = boto3.client("cloudwatch", **kw), boto3.client("sagemaker", **kw)
    for alarm in reqs["PutMetricAlarm"]:
        cw.put_metric_alarm(**alarm)
    sm.create_model(**reqs["CreateModel"])
    sm.create_endpoint_config(**reqs["CreateEndpointConfig"])
    if endpoint_exists(sm, a.endpoint_name):
        sm.update_endpoint(**reqs["UpdateEndpoint"])
        action = "updated"  # SageMaker shifts traffic canary-first and rolls back itself on an alarm
    else:
        sm.create_endpoint(**reqs["CreateEndpoint"])
        action = "created"
    print(
        json.dumps(
            {
                "action": action,
                "endpoint": a.endpoint_name,
                "config": reqs["CreateEndpointConfig"]["EndpointConfigName"],
            }
        )
    )
    return {"action": action, "requests": reqs}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--region", required=True)
    p.add_argument("--endpoint-name", required=True)
    p.add_argument("--version", required=True, help="the registry's heavy version in the tarball")
    p.add_argument("--model-data", required=True, help="s3://bucket/key.tar.gz (deploy_endpoint.py package)")
    p.add_argument("--image-uri", required=True)
    p.add_argument("--role-arn", required=True)
    p.add_argument("--instance-type", default="ml.g5.xlarge")
    p.add_argument("--instance-count", type=int, default=2)
    p.add_argument("--canary-percent", type=int, default=10)
    p.add_argument("--bake-seconds", type=int, default=600)
    p.add_argument("--p99-ms", type=int, default=300)
    p.add_argument("--max-5xx", type=int, default=5)
    p.add_argument("--endpoint-url", help="another AWS endpoint (tests: moto's server)")
    p.add_argument("--dry-run", action="store_true")
    a = p.parse_args(argv)
    if not 1 <= a.canary_percent <= 100:
        p.error("--canary-percent: 1..100")
    return a


def main(argv: list[str] | None = None) -> None:
    release(parse_args(argv))


if __name__ == "__main__":
    main()
