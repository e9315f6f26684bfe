"""Start TorchServe (PyPI torchserve 0.12.0 + torch-model-archiver 0.12.0, Java 17) serving a vitrine heavy model.

``start_torchserve(model_dir, workdir, device)`` writes a model archive (``--archive-format no-archive``: a directory,
no zip of the weights; the weights are read from ``model_dir`` via ``peer.json``) and a config.properties with
dynamic batching (``batchSize`` requests per handler call, ``maxBatchDelay`` ms), one worker per device, loopback
ports; runs ``torchserve --foreground`` and returns the process and its prediction URL (POST
``/predictions/heavy``). ``ready(url)`` tells when the model answers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from .. import paths

MODEL_NAME = "heavy"
# Dynamic batching: up to BATCH_REQUESTS requests (× 50 pairs) per handler call, waiting at most MAX_DELAY_MS.
BATCH_REQUESTS = {"cpu": 4, "cuda": 16}
MAX_DELAY_MS = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin(name: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found (pip install torchserve==0.12.0 torch-model-archiver==0.12.0)")
    return found


def start_torchserve(
    model_dir: Path, workdir: Path, device: str = "cpu", threads: int = 0
) -> tuple[subprocess.Popen[bytes], str]:
    kind = "cuda" if device.startswith("cuda") else "cpu"
    store = workdir / "model-store"
    store.mkdir(parents=True, exist_ok=True)
    extra = workdir / "peer.json"
    extra.write_text(
        json.dumps(
            {
                "gpu_tier": str(paths.REPO / "gpu-tier"),
                "model_dir": str(model_dir),
                "device": kind,
                "threads": threads,
                "chunk": 64 if kind == "cpu" else 256,
            }
        )
    )
    subprocess.run(
        [
            _bin("torch-model-archiver"),
            "--model-name",
            MODEL_NAME,
            "--version",
            "1.0",
            "--handler",
            str(Path(__file__).with_name("handler.py")),
            "--extra-files",
            str(extra),
            "--export-path",
            str(store),
            "--archive-format",
            "no-archive",
            "--force",
        ],
        check=True,
        capture_output=True,
    )
    port, mport, xport = _free_port(), _free_port(), _free_port()
    models = {
        MODEL_NAME: {
            "1.0": {
                "defaultVersion": True,
                "marName": MODEL_NAME,
                "minWorkers": 1,
                "maxWorkers": 1,
                "batchSize": BATCH_REQUESTS[kind],
                "maxBatchDelay": MAX_DELAY_MS,
                "responseTimeout": 600,
            }
        }
    }
    cfg = workdir / "config.properties"
    cfg.write_text(
        "\n".join(
            [
                f"inference_address=http://127.0.0.1:{port}",
                f"management_address=http://127.0.0.1:{mport}",
                f"metrics_address=http://127.0.0.1:{xport}",
                f"model_store={store}",
                f"load_models={MODEL_NAME}",
                "default_workers_per_model=1",
                "disable_token_authorization=true",
                "install_py_dep_per_model=false",
                "enable_metrics_api=false",
                "job_queue_size=2000",
                "number_of_netty_threads=4",
                "netty_client_threads=4",
                f"models={json.dumps(models)}",
                "",
            ]
        )
    )
    env = dict(
        os.environ,
        LOG_LOCATION=str(workdir / "logs"),
        METRICS_LOCATION=str(workdir / "logs"),
        TS_DISABLE_SYSTEM_METRICS="true",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONPATH=str(paths.REPO / "gpu-tier") + os.pathsep + os.environ.get("PYTHONPATH", ""),
        PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
    )
    proc = subprocess.Popen(
        [
            _bin("torchserve"),
            "--start",
            "--foreground",
            "--ncs",
            "--disable-token-auth",
            "--ts-config",
            str(cfg),
            "--model-store",
            str(store),
        ],
        env=env,
        cwd=str(workdir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return proc, f"http://127.0.0.1:{port}/predictions/{MODEL_NAME}"


def stop(proc: subprocess.Popen[bytes]) -> None:
    """TorchServe runs a JVM plus Python workers in its own session: end that process group."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
