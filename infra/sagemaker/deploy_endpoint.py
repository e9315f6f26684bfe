#!/usr/bin/env python3
"""Package heavy models and deploy the vitrine GPU tier as a SageMaker real-time endpoint (boto3).

Two steps (see infra/README.md):

  package  Build model.tar.gz from the local registry — current.json + heavy/<version>/ for the given versions, the
           layout the container's `serve` reads from /opt/ml/model — and optionally upload it to S3.
  deploy   Create one SageMaker Model per production variant, an EndpointConfig with those variants (A/B: e.g.
           "control" and "treatment" with weights; the edge pins a request to one with TargetVariant), then create
           the endpoint or update it in place (blue/green by SageMaker), wait until it is InService, and put each
           variant under Application Auto Scaling (autoscaling.py: --min/--max, --measured-rps).

  python infra/sagemaker/deploy_endpoint.py package --versions heavy-2025...-abcd1234 \
      --out /tmp/model.tar.gz --s3-uri s3://my-bucket/vitrine/heavy/model.tar.gz --region eu-west-1
  python infra/sagemaker/deploy_endpoint.py deploy --region eu-west-1 --endpoint-name vitrine-heavy \
      --image-uri 123456789012.dkr.ecr.eu-west-1.amazonaws.com/vitrine-gpu:2025-01-01 \
      --role-arn arn:aws:iam::123456789012:role/vitrine-sagemaker \
      --variant control=s3://my-bucket/vitrine/heavy/a.tar.gz:0.5 \
      --variant treatment=s3://my-bucket/vitrine/heavy/b.tar.gz:0.5 \
      --instance-type ml.g5.xlarge --env VITRINE_MAX_DELAY_MS=3

Several GPU regions (README "Global traffic"): `--regions us-east-1,eu-central-1,ap-southeast-2` (or
`--gpu-regions '<the edge's GPU_REGIONS JSON>'`, which also names each region's endpoint) deploys the same variants —
the same model version — to every listed region with one timestamp, one region after the other. SageMaker reads
model data and images from its own region, so `{region}` in a variant's S3 URI and in --image-uri is replaced by each
region (e.g. s3://vitrine-models-{region}/heavy/a.tar.gz); `package --s3-uri` with `{region}` and --regions uploads
one copy per region.

`--dry-run` prints every API request as JSON and calls nothing. Credentials come from the usual boto3 chain.
A single variant can also carry several heavy versions in one model.tar.gz; requests then pick one with
CustomAttributes "model=<version>" (the server loads versions on demand, LRU-bounded).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import autoscaling  # noqa: E402  (infra/sagemaker/autoscaling.py: the variants' scaling policies)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_REGISTRY = REPO / ".vitrine" / "registry"


# -- package ----------------------------------------------------------------------------------------------------------
def build_model_tarball(registry: Path, versions: list[str], out: Path) -> Path:
    """model.tar.gz = current.json ({"heavy": versions[0]}) + heavy/<v>/... for each version (files at the root)."""
    if not versions:
        cur = json.loads((registry / "current.json").read_text())
        versions = [cur["heavy"]]
    for v in versions:
        if not (registry / "heavy" / v / "manifest.json").is_file():
            raise SystemExit(f"package: {registry}/heavy/{v}/manifest.json not found")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as tar:
        current = json.dumps({"heavy": versions[0], "available": versions}).encode()
        info = tarfile.TarInfo("current.json")
        info.size, info.mtime, info.mode = len(current), int(time.time()), 0o644
        tar.addfile(info, io.BytesIO(current))
        for v in versions:
            tar.add(registry / "heavy" / v, arcname=f"heavy/{v}", recursive=True)
    return out


@dataclass(frozen=True)
class Target:
    """One region to deploy to and its endpoint name there."""

    region: str
    endpoint_name: str


def parse_targets(regions: str | None, gpu_regions: str | None, region: str | None, endpoint_name: str) -> list[Target]:
    """--gpu-regions (the edge's GPU_REGIONS JSON: [{"region", "endpoint", "url"?}]) or --regions (a comma list, every
    region under --endpoint-name) or --region; each region once."""
    if gpu_regions:
        try:
            entries = json.loads(gpu_regions)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"--gpu-regions: not JSON ({exc})") from exc
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("region"), str) and isinstance(e.get("endpoint"), str)
            for e in entries
        ):
            raise SystemExit('--gpu-regions: a list of {"region": ..., "endpoint": ...}')
        targets = [Target(e["region"].strip(), e["endpoint"].strip()) for e in entries]
    elif regions:
        targets = [Target(r.strip(), endpoint_name) for r in regions.split(",") if r.strip()]
    elif region:
        targets = [Target(region, endpoint_name)]
    else:
        raise SystemExit("deploy: --region, --regions or --gpu-regions is required")
    names = [t.region for t in targets]
    if not targets or len(set(names)) != len(names) or not all(names):
        raise SystemExit(f"deploy: each region once, got {names}")
    return targets


def in_region(value: str, region: str) -> str:
    """`{region}` in an S3 URI or image URI → the region (SageMaker reads both from its own region)."""
    return value.replace("{region}", region)


def upload(path: Path, s3_uri: str, region: str | None, dry_run: bool) -> None:
    if not s3_uri.startswith("s3://") or "/" not in s3_uri[5:]:
        raise SystemExit(f"--s3-uri must look like s3://bucket/key, got {s3_uri}")
    bucket, key = s3_uri[5:].split("/", 1)
    if dry_run:
        print(json.dumps({"s3.upload_file": {"Filename": str(path), "Bucket": bucket, "Key": key}}))
        return
    import boto3

    boto3.client("s3", region_name=region).upload_file(str(path), bucket, key)
    print(f"uploaded {path} -> {s3_uri}")


# -- deploy -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    name: str
    model_data: str
    weight: float


def parse_variant(spec: str) -> Variant:
    """NAME=s3://bucket/key.tar.gz[:WEIGHT]"""
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest.startswith("s3://"):
        raise argparse.ArgumentTypeError(f"--variant NAME=s3://bucket/key.tar.gz[:WEIGHT], got {spec!r}")
    uri, weight = rest, 1.0
    head, colon, tail = rest.rpartition(":")
    if colon and head.startswith("s3://") and tail.replace(".", "", 1).isdigit():
        uri, weight = head, float(tail)
    return Variant(name, uri, weight)


def deployment_requests(
    args: argparse.Namespace, stamp: str, region: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The CreateModel requests (one per variant) and the CreateEndpointConfig request (of one region)."""
    region = region or args.region or ""
    env = {"VITRINE_LOG_LEVEL": "info"}
    for kv in args.env:
        k, sep, v = kv.partition("=")
        if not sep:
            raise SystemExit(f"--env KEY=VALUE, got {kv!r}")
        env[k] = v
    models, variants = [], []
    for var in args.variant:
        model_name = f"{args.endpoint_name}-{var.name}-{stamp}"[:63]
        models.append(
            {
                "ModelName": model_name,
                "ExecutionRoleArn": args.role_arn,
                "PrimaryContainer": {
                    "Image": in_region(args.image_uri, region),
                    "ModelDataUrl": in_region(var.model_data, region),
                    "Mode": "SingleModel",
                    # the names the tier's CloudWatch shed-rate metric carries (autoscaling.py's alarm reads them)
                    "Environment": {
                        **env,
                        "VITRINE_ENDPOINT_NAME": args.endpoint_name,
                        "VITRINE_VARIANT_NAME": var.name,
                    },
                },
                "Tags": [{"Key": "app", "Value": "vitrine"}, {"Key": "variant", "Value": var.name}],
            }
        )
        variants.append(
            {
                "VariantName": var.name,
                "ModelName": model_name,
                "InstanceType": args.instance_type,
                "InitialInstanceCount": args.instance_count,
                "InitialVariantWeight": var.weight,
                "ContainerStartupHealthCheckTimeoutInSeconds": 600,
                "ModelDataDownloadTimeoutInSeconds": 900,
            }
        )
    config = {
        "EndpointConfigName": f"{args.endpoint_name}-{stamp}"[:63],
        "ProductionVariants": variants,
        "Tags": [{"Key": "app", "Value": "vitrine"}],
    }
    return models, config


def endpoint_exists(sm: Any, name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        sm.describe_endpoint(EndpointName=name)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationException":  # "Could not find endpoint"
            return False
        raise


def deploy(args: argparse.Namespace, stamp: str | None = None) -> None:
    """Every listed region gets the same variants (the same model version) under one timestamp, region by region."""
    stamp = stamp or time.strftime("%Y%m%d%H%M%S", time.gmtime())
    targets = parse_targets(
        getattr(args, "regions", None), getattr(args, "gpu_regions", None), args.region, args.endpoint_name
    )
    for t in targets:
        print(f"== {t.region}: endpoint {t.endpoint_name}", flush=True)
        deploy_region(args, t, stamp)


def deploy_region(args: argparse.Namespace, target: Target, stamp: str) -> None:
    args = argparse.Namespace(**{**vars(args), "region": target.region, "endpoint_name": target.endpoint_name})
    models, config = deployment_requests(args, stamp, target.region)
    if args.dry_run:
        for m in models:
            print(json.dumps({"sagemaker.create_model": m}, indent=1))
        print(json.dumps({"sagemaker.create_endpoint_config": config}, indent=1))
        print(
            json.dumps(
                {
                    "sagemaker.create_endpoint|update_endpoint": {
                        "EndpointName": args.endpoint_name,
                        "EndpointConfigName": config["EndpointConfigName"],
                    }
                },
                indent=1,
            )
        )
        return
    import boto3

    endpoint_url = getattr(args, "endpoint_url", None)
    sm = boto3.client("sagemaker", region_name=args.region, **({"endpoint_url": endpoint_url} if endpoint_url else {}))
    for m in models:
        sm.create_model(**m)
        print(f"created model {m['ModelName']}")
    sm.create_endpoint_config(**config)
    print(f"created endpoint config {config['EndpointConfigName']}")
    if endpoint_exists(sm, args.endpoint_name):
        sm.update_endpoint(EndpointName=args.endpoint_name, EndpointConfigName=config["EndpointConfigName"])
        print(f"updating endpoint {args.endpoint_name}")
    else:
        sm.create_endpoint(
            EndpointName=args.endpoint_name,
            EndpointConfigName=config["EndpointConfigName"],
            Tags=[{"Key": "app", "Value": "vitrine"}],
        )
        print(f"creating endpoint {args.endpoint_name}")
    if args.no_wait:
        return
    print("waiting for InService (GPU instances take ~5-15 minutes)...", flush=True)
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=args.endpoint_name, WaiterConfig={"Delay": 30, "MaxAttempts": 120}
    )
    desc = sm.describe_endpoint(EndpointName=args.endpoint_name)
    if not args.no_autoscaling:  # a scalable target needs the endpoint InService
        autoscaling.apply(
            args.endpoint_name,
            [v.name for v in args.variant],
            autoscaling.plan_of(args),
            args.region,
            args.endpoint_url,
        )
    print(
        json.dumps(
            {
                "EndpointName": desc["EndpointName"],
                "EndpointStatus": desc["EndpointStatus"],
                "Variants": [v["VariantName"] for v in desc.get("ProductionVariants", [])],
            }
        )
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pk = sub.add_parser("package", help="build (and upload) model.tar.gz from the registry")
    pk.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY)
    pk.add_argument("--versions", default="", help="comma-separated heavy versions (default: current.json's)")
    pk.add_argument("--out", type=Path, default=Path("model.tar.gz"))
    pk.add_argument("--s3-uri", help="upload to s3://bucket/key")
    pk.add_argument("--region")
    pk.add_argument("--regions", help="comma list: upload one copy per region ({region} in --s3-uri)")
    pk.add_argument("--dry-run", action="store_true")
    dp = sub.add_parser("deploy", help="create models + endpoint config, create/update the endpoint, wait")
    dp.add_argument("--region", help="one region (or --regions / --gpu-regions)")
    dp.add_argument("--regions", help="comma list of regions, each gets --endpoint-name with the same variants")
    dp.add_argument("--gpu-regions", help="the edge's GPU_REGIONS JSON: each region with its endpoint name")
    dp.add_argument("--endpoint-name", default="vitrine-ranker")
    dp.add_argument("--endpoint-url", help="another AWS endpoint (tests: moto's server)")
    dp.add_argument("--image-uri", required=True, help="ECR image built from infra/container/Dockerfile")
    dp.add_argument("--role-arn", required=True, help="SageMaker execution role (ECR pull + S3 read)")
    dp.add_argument(
        "--variant",
        type=parse_variant,
        action="append",
        required=True,
        help="NAME=s3://bucket/model.tar.gz[:WEIGHT]; repeat for A/B (names = the edge's variants)",
    )
    dp.add_argument("--instance-type", default="ml.g5.xlarge")
    dp.add_argument("--instance-count", type=int, default=1)
    dp.add_argument("--env", action="append", default=[], help="KEY=VALUE for the container (repeatable)")
    dp.add_argument("--no-wait", action="store_true", help="do not wait for InService (then no autoscaling either)")
    dp.add_argument("--no-autoscaling", action="store_true", help="a fixed --instance-count, no scaling policies")
    autoscaling.add_arguments(dp)
    dp.add_argument("--dry-run", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "package":
        versions = [v for v in args.versions.split(",") if v]
        out = build_model_tarball(args.registry, versions, args.out)
        print(f"wrote {out} ({out.stat().st_size} bytes)")
        if args.s3_uri:
            regions = [r.strip() for r in (args.regions or "").split(",") if r.strip()] or [args.region]
            if len(regions) > 1 and "{region}" not in args.s3_uri:
                raise SystemExit("--regions: --s3-uri needs {region} (one bucket per region)")
            for region in regions:
                upload(out, in_region(args.s3_uri, region or ""), region, args.dry_run)
    else:
        if len({v.name for v in args.variant}) != len(args.variant):
            raise SystemExit("variant names must be unique")
        deploy(args)


if __name__ == "__main__":
    main()
