#!/usr/bin/env python3
"""Scheduled retraining in production (boto3): an EventBridge Scheduler schedule per store starts the SageMaker
Pipeline `vitrine-retrain`, whose one processing step runs `python -m vitrine_gpu retrain --store <Store> --remote`
in the gpu-tier image on a GPU instance (export → train → gate → canary, README "Scheduled retraining").

  python infra/sagemaker/retrain_schedule.py --region eu-west-1 --image-uri $IMAGE --role-arn $SM_ROLE \
      --scheduler-role-arn $SCHED_ROLE --registry-s3 s3://BUCKET/vitrine/registry --edge-url https://<worker> \
      --secret-arn arn:aws:secretsmanager:...:vitrine-retrain --store online-retail --store shop-a \
      [--cron 'cron(30 2 * * ? *)'] [--timezone UTC] [--instance-type ml.g5.xlarge] [--dry-run]

- **Pipeline** (`CreatePipeline`, or `UpdatePipeline` when it exists): parameter `Store`; step `Retrain`, a
  processing job: the registry synced in from `--registry-s3` at `/opt/ml/processing/registry` and back out
  (VITRINE_REGISTRY; the job writes candidates, gate reports and `retrains/<stamp>-<store>.json` there), the edge's
  URL, and the ARN of the Secrets Manager secret holding the edge's admin token and a Cloudflare API token for
  `wrangler d1 export --remote` (`--secret-arn`; the job's role must be allowed to read it). 6 h cap.
- **Schedules** (`CreateSchedule` / `UpdateSchedule`, group `vitrine`): one per store, `vitrine-retrain-<store>`,
  target the pipeline's ARN with `SageMakerPipelineParameters` {Store}, a 30-minute flexible window (stores spread
  out instead of training at once), 2 retries within an hour; the scheduler role needs
  `sagemaker:StartPipelineExecution` on the pipeline.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

PIPELINE = "vitrine-retrain"
GROUP = "vitrine"
REGISTRY_MOUNT = "/opt/ml/processing/registry"
DEFAULT_CRON = "cron(30 2 * * ? *)"  # nightly 02:30 in --timezone: after the day's purchases, before EU mornings


def pipeline_definition(a: argparse.Namespace) -> dict[str, Any]:
    """The pipeline's JSON definition (schema 2020-12-01): one processing step running the retrain command."""
    return {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "Store", "Type": "String", "DefaultValue": a.store[0]}],
        "Steps": [
            {
                "Name": "Retrain",
                "Type": "Processing",
                "Arguments": {
                    "ProcessingResources": {
                        "ClusterConfig": {"InstanceCount": 1, "InstanceType": a.instance_type, "VolumeSizeInGB": 100}
                    },
                    "AppSpecification": {
                        "ImageUri": a.image_uri,
                        "ContainerEntrypoint": ["python", "-m", "vitrine_gpu", "retrain", "--remote", "--gpu", ""],
                        "ContainerArguments": ["--store", {"Get": "Parameters.Store"}],
                    },
                    "RoleArn": a.role_arn,
                    "Environment": {
                        "VITRINE_REGISTRY": REGISTRY_MOUNT,
                        "VITRINE_EDGE_URL": a.edge_url,
                        "VITRINE_SECRETS_ARN": a.secret_arn,
                    },
                    "ProcessingInputs": [
                        {
                            "InputName": "registry",
                            "S3Input": {
                                "S3Uri": a.registry_s3,
                                "LocalPath": REGISTRY_MOUNT,
                                "S3DataType": "S3Prefix",
                                "S3InputMode": "File",
                            },
                        }
                    ],
                    "ProcessingOutputConfig": {
                        "Outputs": [
                            {
                                "OutputName": "registry",
                                "S3Output": {
                                    "S3Uri": a.registry_s3,
                                    "LocalPath": REGISTRY_MOUNT,
                                    "S3UploadMode": "EndOfJob",
                                },
                            }
                        ]
                    },
                    "StoppingCondition": {"MaxRuntimeInSeconds": 6 * 3600},
                },
            }
        ],
    }


def schedule_request(a: argparse.Namespace, store: str, pipeline_arn: str) -> dict[str, Any]:
    return {
        "Name": f"{PIPELINE}-{store}"[:64],
        "GroupName": GROUP,
        "Description": f"vitrine: retrain {store}'s models through the release gate",
        "ScheduleExpression": a.cron,
        "ScheduleExpressionTimezone": a.timezone,
        "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 30},
        "State": "ENABLED",
        "Target": {
            "Arn": pipeline_arn,
            "RoleArn": a.scheduler_role_arn,
            "SageMakerPipelineParameters": {"PipelineParameterList": [{"Name": "Store", "Value": store}]},
            "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
        },
    }


def _exists(call: Any, missing: tuple[str, ...]) -> bool:
    from botocore.exceptions import ClientError

    try:
        call()
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in missing:
            return False
        raise


def apply(a: argparse.Namespace) -> dict[str, Any]:
    """Creates or updates the pipeline and one schedule per store; returns the pipeline ARN and the schedule ARNs."""
    import boto3

    sm = boto3.client("sagemaker", region_name=a.region, endpoint_url=a.endpoint_url)
    sch = boto3.client("scheduler", region_name=a.region, endpoint_url=a.endpoint_url)
    definition = json.dumps(pipeline_definition(a))
    common = {"PipelineName": PIPELINE, "PipelineDefinition": definition, "RoleArn": a.role_arn}
    if _exists(lambda: sm.describe_pipeline(PipelineName=PIPELINE), ("ResourceNotFound", "ValidationException")):
        arn = sm.update_pipeline(**common)["PipelineArn"]
    else:
        arn = sm.create_pipeline(
            **common,
            PipelineDescription="vitrine: one store's retraining through the release gate",
            Tags=[{"Key": "app", "Value": "vitrine"}],
        )["PipelineArn"]
    if not _exists(lambda: sch.get_schedule_group(Name=GROUP), ("ResourceNotFoundException",)):
        sch.create_schedule_group(Name=GROUP)
    schedules = {}
    for store in a.store:
        req = schedule_request(a, store, arn)
        name = req["Name"]
        found = _exists(lambda n=name: sch.get_schedule(Name=n, GroupName=GROUP), ("ResourceNotFoundException",))
        out = (sch.update_schedule if found else sch.create_schedule)(**req)
        schedules[store] = out["ScheduleArn"]
        print(f"schedule {req['Name']}: {a.cron} {a.timezone} → {PIPELINE} (Store={store})")
    return {"pipeline": arn, "schedules": schedules}


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--region", required=True)
    p.add_argument("--image-uri", required=True, help="the gpu-tier image (infra/container/Dockerfile)")
    p.add_argument("--role-arn", required=True, help="the pipeline's and processing job's execution role")
    p.add_argument("--scheduler-role-arn", required=True, help="EventBridge Scheduler's role (StartPipelineExecution)")
    p.add_argument("--registry-s3", required=True, help="s3://bucket/prefix of the model registry")
    p.add_argument("--edge-url", required=True, help="the deployed worker")
    p.add_argument("--secret-arn", required=True, help="Secrets Manager: the edge's admin token, a Cloudflare token")
    p.add_argument("--store", action="append", required=True, help="a store to retrain on the schedule (repeatable)")
    p.add_argument("--cron", default=DEFAULT_CRON, help=f"EventBridge Scheduler expression (default {DEFAULT_CRON})")
    p.add_argument("--timezone", default="UTC")
    p.add_argument("--instance-type", default="ml.g5.xlarge")
    p.add_argument("--endpoint-url", help=argparse.SUPPRESS)  # tests: moto's server
    p.add_argument("--dry-run", action="store_true", help="print the pipeline definition and the schedules")
    a = p.parse_args(argv)
    if not a.registry_s3.startswith("s3://"):
        p.error("--registry-s3 must be an s3:// prefix")
    if a.dry_run:
        arn = f"arn:aws:sagemaker:{a.region}:<account>:pipeline/{PIPELINE}"
        print(
            json.dumps(
                {"pipeline": pipeline_definition(a), "schedules": [schedule_request(a, s, arn) for s in a.store]},
                indent=1,
            )
        )
        return None
    return apply(a)


if __name__ == "__main__":
    main()
