"""Prometheus metrics for the GPU tier (GET /metrics, text exposition format).

Each app gets its own CollectorRegistry so several servers (tests) can live in one process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..search.heavy.term_cache import TermCache
from .batcher import AdmissionEvent, BatchRecord

log = logging.getLogger("vitrine_gpu.server.prom")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 50, 64, 100, 128, 200, 256, 512, 1024)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GpuCollector(Collector):
    """GPU utilisation and memory read through torch.cuda at scrape time (nothing is emitted on CPU)."""

    def __init__(self, device: str) -> None:
        self.device = device

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if not self.device.startswith("cuda"):
            return
        try:
            import torch

            if not torch.cuda.is_available():
                return
            n = torch.cuda.device_count()
            alloc = GaugeMetricFamily(
                "vitrine_gpu_cuda_memory_allocated_bytes", "Tensor memory allocated by torch", labels=["gpu"]
            )
            reserved = GaugeMetricFamily(
                "vitrine_gpu_cuda_memory_reserved_bytes", "Memory reserved by torch's caching allocator", labels=["gpu"]
            )
            used = GaugeMetricFamily(
                "vitrine_gpu_cuda_memory_used_bytes", "Device memory in use (all processes)", labels=["gpu"]
            )
            total = GaugeMetricFamily("vitrine_gpu_cuda_memory_total_bytes", "Device memory", labels=["gpu"])
            util = GaugeMetricFamily(
                "vitrine_gpu_cuda_utilization_ratio",
                "GPU utilisation over the last sample period (0..1, via NVML)",
                labels=["gpu"],
            )
            for i in range(n):
                g = str(i)
                alloc.add_metric([g], float(torch.cuda.memory_allocated(i)))
                reserved.add_metric([g], float(torch.cuda.memory_reserved(i)))
                free_b, total_b = torch.cuda.mem_get_info(i)
                used.add_metric([g], float(total_b - free_b))
                total.add_metric([g], float(total_b))
                try:
                    util.add_metric([g], torch.cuda.utilization(i) / 100.0)
                except Exception:  # noqa: BLE001 - needs pynvml; skip the gauge without it
                    pass
            yield from (alloc, reserved, used, total)
            if util.samples:
                yield util
        except Exception as exc:  # noqa: BLE001 - a scrape must never fail because of the GPU probe
            log.warning("GPU metrics unavailable: %s", exc)


class TermCacheCollector(Collector):
    """The product term-representation cache: entries, bytes, hits/misses, hit ratio, catalogue precompute."""

    def __init__(self, cache: TermCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[GaugeMetricFamily]:
        st = self.cache.stats()
        for name, doc, value in (
            ("entries", "Products held in the term cache", st.entries),
            ("bytes", "Tensor bytes held in the term cache", st.bytes),
            ("max_bytes", "Term cache budget in bytes", st.max_bytes),
            ("hits", "Term cache lookups served from the cache (since start)", st.hits),
            ("misses", "Term cache lookups that ran the product trunk (since start)", st.misses),
            ("evictions", "Term cache entries evicted for space (since start)", st.evictions),
            ("hit_ratio", "hits / (hits + misses) since start", st.hit_ratio),
        ):
            yield GaugeMetricFamily(f"vitrine_gpu_term_cache_{name}", doc, value=float(value))
        done = GaugeMetricFamily(
            "vitrine_gpu_term_cache_precompute_done", "Catalogue products precomputed", labels=["model"]
        )
        total = GaugeMetricFamily(
            "vitrine_gpu_term_cache_precompute_total", "Catalogue products to precompute", labels=["model"]
        )
        finished = GaugeMetricFamily(
            "vitrine_gpu_term_cache_precompute_finished", "1 once the precompute has ended", labels=["model"]
        )
        for version, p in list(self.cache.progress.items()):
            done.add_metric([version], float(p.done))
            total.add_metric([version], float(p.total))
            finished.add_metric([version], 1.0 if p.finished else 0.0)
        yield from (done, total, finished)


class ServerMetrics:
    def __init__(
        self,
        device: str,
        loaded_models: Callable[[], list[str]],
        pending_pairs: Callable[[], int],
        queued_requests: Callable[[], int] = lambda: 0,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "vitrine_gpu_requests", "HTTP requests by route and status code", ["route", "status"], registry=r
        )
        self.errors = Counter(
            "vitrine_gpu_errors",
            "Error responses by kind (bad_request, model_not_found, inference_failed, ...)",
            ["kind"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "vitrine_gpu_request_seconds",
            "Invocation latency inside the server",
            ["task", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "vitrine_gpu_batch_size_pairs",
            "Pairs per score_batch call",
            ["task", "model"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batch_requests = Histogram(
            "vitrine_gpu_batch_requests",
            "Requests sharing one score_batch call",
            ["task", "model"],
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64),
            registry=r,
        )
        self.queue_seconds = Histogram(
            "vitrine_gpu_queue_seconds",
            "Request wait before its first batch started",
            ["task", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.inference_seconds = Histogram(
            "vitrine_gpu_inference_seconds",
            "score_batch wall time per batch",
            ["task", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_failures = Counter(
            "vitrine_gpu_batch_failures", "score_batch calls that raised", ["task", "model"], registry=r
        )
        self.pairs = Counter(
            "vitrine_gpu_pairs_scored",
            "Pairs scored (search: query-document; recommend: user-candidate)",
            ["task", "model"],
            registry=r,
        )
        self.model_loads = Counter("vitrine_gpu_model_loads", "Heavy model loads", registry=r)
        loaded = Gauge("vitrine_gpu_models_loaded", "Heavy model versions held in memory", registry=r)
        loaded.set_function(lambda: float(len(loaded_models())))
        pending = Gauge("vitrine_gpu_queue_pending_pairs", "Pairs waiting for a batch", registry=r)
        pending.set_function(lambda: float(pending_pairs()))
        depth = Gauge("vitrine_gpu_queue_requests", "Requests waiting for their first batch (queue depth)", registry=r)
        depth.set_function(lambda: float(queued_requests()))
        self.admitted = Counter(
            "vitrine_gpu_admitted", "Requests admitted to the batch queue", ["task", "model"], registry=r
        )
        self.shed = Counter(
            "vitrine_gpu_shed",
            "Requests refused at admission (503 overloaded): reason deadline | queue_full",
            ["task", "model", "reason"],
            registry=r,
        )
        self.expired_in_queue = Counter(
            "vitrine_gpu_expired_in_queue",
            "Admitted requests whose deadline passed while queued: dropped before inference",
            ["task", "model"],
            registry=r,
        )
        self.abandoned = Counter(
            "vitrine_gpu_abandoned_in_queue",
            "Queued requests whose client disconnected: dropped before inference",
            ["task", "model"],
            registry=r,
        )
        self.model_info = Gauge(
            "vitrine_gpu_model_loaded_info",
            "1 for each loaded model version (search heavy and recs-heavy)",
            ["version", "device"],
            registry=r,
        )
        self._device = device
        self._loaded_models = loaded_models
        r.register(GpuCollector(device))

    def watch_term_cache(self, cache: TermCache) -> None:
        self.registry.register(TermCacheCollector(cache))

    def refresh_models(self) -> None:
        self.model_info.clear()
        for v in self._loaded_models():
            self.model_info.labels(version=v, device=self._device).set(1)

    def observe_batch(self, rec: BatchRecord) -> None:
        self.batch_size.labels(rec.task, rec.model).observe(rec.size)
        self.batch_requests.labels(rec.task, rec.model).observe(rec.requests)
        self.inference_seconds.labels(rec.task, rec.model).observe(rec.inference_s)
        if rec.ok:
            self.pairs.labels(rec.task, rec.model).inc(rec.size)
        else:
            self.batch_failures.labels(rec.task, rec.model).inc()

    def observe_admission(self, e: AdmissionEvent) -> None:
        if e.outcome == "admitted":
            self.admitted.labels(e.task, e.model).inc()
        elif e.outcome == "shed":
            self.shed.labels(e.task, e.model, e.reason).inc()
        elif e.outcome == "expired_in_queue":
            self.expired_in_queue.labels(e.task, e.model).inc()
        elif e.outcome == "abandoned":
            self.abandoned.labels(e.task, e.model).inc()

    def observe_queue(self, task: str, model: str, seconds: float) -> None:
        self.queue_seconds.labels(task, model).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
