"""infra/sagemaker/deploy_endpoint.py deploying one model version to several GPU regions (README "Global traffic"),
against moto's server: every region listed in the edge's GPU_REGIONS gets its endpoint, built from the same variants
under one timestamp, with the model data and image of its own region."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sagemaker"))
import deploy_endpoint as dep  # noqa: E402

moto_server = pytest.importorskip("moto.server")

REGIONS = ["us-east-1", "eu-central-1", "ap-southeast-2"]


@pytest.fixture()
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    yield url
    # moto keeps its state per process, shared by every server: leave none behind for the other infra tests
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    server.stop()


def deploy_args(url: str, *where: str) -> list[str]:
    return [
        "deploy", *where, "--endpoint-url", url, "--no-wait",
        "--image-uri", "123456789012.dkr.ecr.{region}.amazonaws.com/vitrine-gpu:abc",
        "--role-arn", "arn:aws:iam::123456789012:role/vitrine-sagemaker", "--instance-type", "ml.g4dn.xlarge",
        "--variant", "live=s3://vitrine-models-{region}/heavy-20260101000000-aaaaaaaa.tar.gz",
    ]  # fmt: skip


def test_gpu_regions_each_get_the_same_version_from_their_own_region(aws: str) -> None:
    gpu_regions = [{"region": r, "endpoint": f"ranker-{i}", "url": ""} for i, r in enumerate(REGIONS)]
    dep.main(deploy_args(aws, "--gpu-regions", json.dumps(gpu_regions)))
    configs = set()
    for i, region in enumerate(REGIONS):
        sm = boto3.client("sagemaker", region_name=region, endpoint_url=aws)
        ep = sm.describe_endpoint(EndpointName=f"ranker-{i}")
        configs.add(ep["EndpointConfigName"].removeprefix(f"ranker-{i}-"))
        (variant,) = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])["ProductionVariants"]
        container = sm.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]
        assert container["ModelDataUrl"] == f"s3://vitrine-models-{region}/heavy-20260101000000-aaaaaaaa.tar.gz"
        assert container["Image"] == f"123456789012.dkr.ecr.{region}.amazonaws.com/vitrine-gpu:abc"
        # nothing leaked into another region (other tests' endpoints may share moto's server: only ours count)
        ours = [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"] if e["EndpointName"].startswith("ranker-")]
        assert ours == [f"ranker-{i}"]
    assert len(configs) == 1  # one timestamp: the same release everywhere


def test_regions_list_uses_one_endpoint_name(aws: str) -> None:
    dep.main([*deploy_args(aws, "--regions", ",".join(REGIONS)), "--endpoint-name", "vitrine-ranker-multi"])
    for region in REGIONS:
        sm = boto3.client("sagemaker", region_name=region, endpoint_url=aws)
        assert sm.describe_endpoint(EndpointName="vitrine-ranker-multi")["EndpointName"] == "vitrine-ranker-multi"


@pytest.mark.parametrize(
    "where",
    [
        ["--regions", "us-east-1,us-east-1"],
        ["--gpu-regions", "not json"],
        ["--gpu-regions", '[{"region": "us-east-1"}]'],
        [],
    ],
)
def test_bad_region_lists_are_refused_before_any_call(where: list[str]) -> None:
    with pytest.raises(SystemExit):
        dep.main(deploy_args("http://127.0.0.1:9", *where))
