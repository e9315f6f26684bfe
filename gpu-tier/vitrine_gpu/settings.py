"""The gpu-tier's settings: one object, each default written once, read from ``VITRINE_*`` environment variables.

The server (``vitrine_gpu.server``: app, batcher, model store) and its CLI take a ``Settings``; CLI flags and
keyword arguments override the environment, which overrides the defaults below. The pipeline reads the paths
(``state``, ``registry``, ``shared``) through ``vitrine_gpu.paths``. Empty variables count as unset.

| variable | field | default |
| --- | --- | --- |
| `VITRINE_STATE` | `state` | `<repo>/.vitrine` |
| `VITRINE_REGISTRY` | `registry` | `<state>/registry` |
| `VITRINE_SHARED` | `shared` | `<repo>/../shared` |
| `VITRINE_HOST` | `host` | `127.0.0.1` |
| `VITRINE_PORT` (or SageMaker's `SAGEMAKER_BIND_TO_PORT`) | `port` | `8080` |
| `VITRINE_MODEL_DIR` | `model_dir` | none (a SageMaker model dir; overrides `registry`) |
| `VITRINE_DEVICE` | `device` | `auto` (cuda when torch sees a GPU, else cpu) |
| `VITRINE_MAX_BATCH_SIZE` | `max_batch_size` | 256 on CUDA, 64 on CPU (`DEFAULT_BATCH`; 0 = that default) |
| `VITRINE_MAX_DELAY_MS` | `max_delay_ms` | `5` |
| `VITRINE_MAX_MODELS` | `max_models` | `3` |
| `VITRINE_ADMISSION` | `admission` | on (deadline-aware admission control, server/admission.py; `false` = off) |
| `VITRINE_MAX_QUEUE_MS` | `max_queue_ms` | `5000` (shed when the estimated answer time passes it; 0 = no bound) |
| `VITRINE_LOG_LEVEL` | `log_level` | `info` |
| `VITRINE_ACCESS_LOG` | `access_log` | off |
| `VITRINE_GPU_ADMIN_TOKEN` | `gpu_admin_token` | none (`POST /models/load` answers 403 `admin_disabled`) |
| `VITRINE_DRILL_SECRET` | `drill_secret` | none (signed fault requests, `POST /faults`, answer 403) |
| `VITRINE_ADMIN_TOKEN` | `admin_token` | none (the release CLI reads `.dev.vars` ADMIN_TOKEN then) |
| `VITRINE_EDGE_URL` | `edge_url` | `http://127.0.0.1:8787` (the release CLI's edge) |
| `VITRINE_GPU_URLS` | `gpu_urls` | `http://127.0.0.1:8080` (the release CLI's GPU-tier endpoints, comma-separated) |
| `VITRINE_RELEASE_GATE_MARGIN` | `release_gate_margin` | `0.02` (nDCG@10 a candidate may lose to production) |
| `VITRINE_RELEASE_GATE_QUERIES` | `release_gate_queries` | `48` (judged queries the gate scores, a fixed sample; 0 = all) |
| `VITRINE_TERM_CACHE_BYTES` | `term_cache_bytes` | 1 GiB (product term-representation cache: the esci catalogue takes ~340 MiB per version, so a canary fits beside production; 0 = off) |
| `VITRINE_TERM_CACHE_DTYPE` | `term_cache_dtype` | `float16` (`bfloat16`, `float32`) |
| `VITRINE_TERM_CACHE_PRECOMPUTE` | `term_cache_precompute` | `-1` = every catalogue product on model load (0 = none) |
| `VITRINE_TERM_CACHE_PRECOMPUTE_SECONDS` | `term_cache_precompute_seconds` | `900` (background; stops there) |
| `VITRINE_CPU_INT8` | `cpu_int8` | on (dynamic int8 Linear layers on CPU) |
| `VITRINE_CPU_THREADS` | `cpu_threads` | `0` = one per usable core |
| `VITRINE_CUDA_COMPILE` | `cuda_compile` | on (torch.compile + CUDA graphs of the joint layers per shape bucket) |
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO = Path(__file__).resolve().parents[2]

# Pairs per score_batch call when max_batch_size is not set: a CPU gains little from big batches, only latency.
DEFAULT_BATCH = {"cuda": 256, "cpu": 64}
DEFAULT_MAX_DELAY_MS = 5.0  # longest wait for more pairs after the first one queues
DEFAULT_MAX_QUEUE_MS = 5_000.0  # the queue's bound in estimated time-to-answer (measured service time × pairs)
DEFAULT_MAX_MODELS = 3  # heavy versions held at once (LRU; the defaults are never evicted)
MAX_DOCUMENTS = 256
MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker's real-time payload limit


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VITRINE_",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
        arbitrary_types_allowed=True,
    )

    # -- where things live (pipeline and server)
    state: Path = REPO / ".vitrine"
    registry: Path = Field(default_factory=lambda data: data["state"] / "registry")
    shared: Path = REPO.parent / "shared"

    # -- the server process
    host: str = "127.0.0.1"
    port: int = Field(default=8080, validation_alias=AliasChoices("VITRINE_PORT", "SAGEMAKER_BIND_TO_PORT"))
    model_dir: Path | None = None
    device: str = "auto"
    max_batch_size: int | None = None  # None = DEFAULT_BATCH for the device
    max_delay_ms: float = DEFAULT_MAX_DELAY_MS
    max_models: int = DEFAULT_MAX_MODELS
    admission: bool = True  # shed requests that would miss their deadline; drop expired / abandoned queued requests
    max_queue_ms: float = DEFAULT_MAX_QUEUE_MS
    log_level: str = "info"
    access_log: bool = False  # off: logging every request costs throughput
    gpu_admin_token: str | None = None  # bearer token of POST /models/load (server/model_admin.py)
    drill_secret: str | None = None  # the edge's DRILL_SECRET: verifies signed fault requests (POST /faults)

    # -- the release CLI (vitrine_gpu.release)
    admin_token: str | None = None  # the edge's ADMIN_TOKEN (else read from <repo>/.dev.vars)
    edge_url: str = "http://127.0.0.1:8787"
    gpu_urls: str = "http://127.0.0.1:8080"
    release_gate_margin: float = Field(default=0.02, ge=0, le=1)
    release_gate_queries: int = Field(default=48, ge=0)  # judged queries the gate scores (a fixed sample; 0 = all)

    # -- heavy-model serving performance (vitrine_gpu.search.heavy.serving)
    term_cache_bytes: int = Field(default=2**30, ge=0)
    term_cache_dtype: str = "float16"
    term_cache_precompute: int = -1  # catalogue products precomputed on model load (-1 = all, 0 = none)
    term_cache_precompute_seconds: float = 900.0
    cpu_int8: bool = True
    cpu_threads: int = Field(default=0, ge=0)
    cuda_compile: bool = True

    # -- limits of the HTTP contract (gpu-tier/README.md)
    max_documents: int = MAX_DOCUMENTS
    max_body_bytes: int = MAX_BODY_BYTES
    inference_threads: int = 1  # HeavyScorer is not thread-safe, and one GPU runs one batch at a time anyway

    # -- set in code (tests): (version_dir, device) -> scorer; None = server/loaders.py make_heavy_loader
    loader: Callable[[Path, str], Any] | None = Field(default=None, exclude=True)

    @field_validator("max_batch_size")
    @classmethod
    def _zero_is_unset(cls, v: int | None) -> int | None:
        return v or None

    def batch_size_for(self, device: str) -> int:
        return self.max_batch_size or DEFAULT_BATCH["cuda" if device.startswith("cuda") else "cpu"]
