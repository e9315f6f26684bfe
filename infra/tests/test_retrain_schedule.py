"""The production retraining schedule against moto's server: the SageMaker Pipeline `vitrine-retrain` (one processing
step running `vitrine_gpu retrain --store <Store> --remote` with the registry synced from and to S3) and one
EventBridge Scheduler schedule per store targeting it with the store as the pipeline parameter; re-applying updates
both in place; the schedule's target starts an execution of the pipeline with the store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3

# the tools (infra/sagemaker) and the shared moto fixture (moto_server.py, a plugin)
sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "sagemaker"), str(Path(__file__).resolve().parent)]
import retrain_schedule as sched  # noqa: E402

pytest_plugins = ["moto_server"]

REGION = "us-east-1"


def args(url: str, *extra: str) -> list[str]:
    return [
        "--region", REGION, "--image-uri", "123456789012.dkr.ecr.us-east-1.amazonaws.com/vitrine-gpu:abc",
        "--role-arn", "arn:aws:iam::123456789012:role/vitrine-sagemaker",
        "--scheduler-role-arn", "arn:aws:iam::123456789012:role/vitrine-scheduler",
        "--registry-s3", "s3://vitrine-models/registry", "--edge-url", "https://vitrine.example.workers.dev",
        "--secret-arn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:vitrine-retrain",
        "--store", "online-retail", "--store", "shop-a", "--endpoint-url", url, *extra,
    ]  # fmt: skip


def test_schedules_start_the_retrain_pipeline_per_store(aws: str) -> None:
    out = sched.main(args(aws))
    assert out is not None
    sm = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws)
    sch = boto3.client("scheduler", region_name=REGION, endpoint_url=aws)
    desc = sm.describe_pipeline(PipelineName="vitrine-retrain")
    assert desc["PipelineArn"] == out["pipeline"] and desc["RoleArn"].endswith(":role/vitrine-sagemaker")
    definition = json.loads(desc["PipelineDefinition"])
    assert definition["Parameters"] == [{"Name": "Store", "Type": "String", "DefaultValue": "online-retail"}]
    (step,) = definition["Steps"]
    app = step["Arguments"]["AppSpecification"]
    assert step["Type"] == "Processing"
    assert (
        app["ContainerEntrypoint"][:4] == ["python", "-m", "vitrine_gpu", "retrain"]
        and "--remote" in app["ContainerEntrypoint"]
    )
    assert app["ContainerArguments"] == ["--store", {"Get": "Parameters.Store"}]
    env = step["Arguments"]["Environment"]
    assert env["VITRINE_REGISTRY"] == sched.REGISTRY_MOUNT and env["VITRINE_SECRETS_ARN"].endswith(":vitrine-retrain")
    (inp,) = step["Arguments"]["ProcessingInputs"]
    (outp,) = step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert inp["S3Input"]["S3Uri"] == outp["S3Output"]["S3Uri"] == "s3://vitrine-models/registry"

    for store in ("online-retail", "shop-a"):
        s = sch.get_schedule(Name=f"vitrine-retrain-{store}", GroupName="vitrine")
        assert s["Arn"] == out["schedules"][store]
        assert s["ScheduleExpression"] == "cron(30 2 * * ? *)" and s["ScheduleExpressionTimezone"] == "UTC"
        assert s["State"] == "ENABLED" and s["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 30}
        target = s["Target"]
        assert target["Arn"] == out["pipeline"] and target["RoleArn"].endswith(":role/vitrine-scheduler")
        assert target["SageMakerPipelineParameters"]["PipelineParameterList"] == [{"Name": "Store", "Value": store}]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2

    # what the schedule's target does when it fires: start the pipeline with the store
    target = sch.get_schedule(Name="vitrine-retrain-shop-a", GroupName="vitrine")["Target"]
    params = target["SageMakerPipelineParameters"]["PipelineParameterList"]
    execution = sm.start_pipeline_execution(PipelineName=target["Arn"].split("/")[-1], PipelineParameters=params)
    (listed,) = sm.list_pipeline_executions(PipelineName="vitrine-retrain")["PipelineExecutionSummaries"]
    assert listed["PipelineExecutionArn"] == execution["PipelineExecutionArn"]


def test_reapplying_updates_the_schedule_in_place(aws: str) -> None:
    sched.main(args(aws, "--cron", "cron(0 4 ? * SUN *)", "--timezone", "Europe/London"))
    sch = boto3.client("scheduler", region_name=REGION, endpoint_url=aws)
    names = [s["Name"] for s in sch.list_schedules(GroupName="vitrine")["Schedules"]]
    assert sorted(names) == ["vitrine-retrain-online-retail", "vitrine-retrain-shop-a"]
    s = sch.get_schedule(Name="vitrine-retrain-shop-a", GroupName="vitrine")
    assert (s["ScheduleExpression"], s["ScheduleExpressionTimezone"]) == ("cron(0 4 ? * SUN *)", "Europe/London")
