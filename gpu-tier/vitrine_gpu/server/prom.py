"""Prometheus metrics for the GPU tier (GET /metrics, text exposition format).

Each app gets its own CollectorRegistry so several servers (tests) can live in one process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..search.heavy.term_cache import PrecomputeProgress, TermCache
from .batcher import AdmissionEvent, BatchRecord
from .resources import HostMemoryCollector

log = logging.getLogger("vitrine_gpu.server.prom")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# the labels of every per-(task, model) family: task = search | recommend, model = the version
TASK_MODEL = ("task", "model")
_BATCH_PAIRS = (1, 2, 4, 8, 16, 32, 50, 64, 100, 128, 200, 256, 512, 1024)
_BATCH_REQS = (1, 2, 3, 4, 6, 8, 12, 16, 32, 64)
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


# one gauge per GPU (label ``gpu``): key -> (name, help); "utilization" needs NVML (pynvml) and is left out without it
_CUDA_GAUGES = {
    "allocated": ("vitrine_gpu_cuda_memory_allocated_bytes", "Tensor memory allocated by torch"),
    "reserved": ("vitrine_gpu_cuda_memory_reserved_bytes", "Memory reserved by torch's caching allocator"),
    "used": ("vitrine_gpu_cuda_memory_used_bytes", "Device memory in use (all processes)"),
    "total": ("vitrine_gpu_cuda_memory_total_bytes", "Device memory"),
    "utilization": (
        "vitrine_gpu_cuda_utilization_ratio",
        "GPU utilisation over the last sample period (0..1, via NVML)",
    ),
}


class GpuCollector(Collector):
    """GPU utilisation and memory read through torch.cuda at scrape time (nothing is emitted on CPU)."""

    def __init__(self, device: str) -> None:
        self.device = device

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if not self.device.startswith("cuda"):
            return
        try:
            import torch  # only on a CUDA server, where the model loader (server/loaders.py) has imported it

            if not torch.cuda.is_available():
                return
            fam = {k: GaugeMetricFamily(name, doc, labels=["gpu"]) for k, (name, doc) in _CUDA_GAUGES.items()}
            for i in range(torch.cuda.device_count()):
                g = [str(i)]
                free_b, total_b = torch.cuda.mem_get_info(i)
                fam["allocated"].add_metric(g, float(torch.cuda.memory_allocated(i)))
                fam["reserved"].add_metric(g, float(torch.cuda.memory_reserved(i)))
                fam["used"].add_metric(g, float(total_b - free_b))
                fam["total"].add_metric(g, float(total_b))
                try:
                    fam["utilization"].add_metric(g, torch.cuda.utilization(i) / 100.0)
                except Exception:  # noqa: BLE001 - needs pynvml; skip the gauge without it
                    pass
            yield from (f for k, f in fam.items() if k != "utilization" or f.samples)
        except Exception as exc:  # noqa: BLE001 - a scrape must never fail because of the GPU probe
            log.warning("GPU metrics unavailable: %s", exc)


# the catalogue precompute per model version (label ``model``): name suffix, help, value of its progress
_PRECOMPUTE_GAUGES: tuple[tuple[str, str, Callable[[PrecomputeProgress], float]], ...] = (
    ("done", "Catalogue products precomputed", lambda p: float(p.done)),
    ("total", "Catalogue products to precompute", lambda p: float(p.total)),
    ("finished", "1 once the precompute has ended", lambda p: 1.0 if p.finished else 0.0),
)


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
        progress = list(self.cache.progress.items())
        for suffix, help_, of in _PRECOMPUTE_GAUGES:
            fam = GaugeMetricFamily(f"vitrine_gpu_term_cache_precompute_{suffix}", help_, labels=["model"])
            for version, p in progress:
                fam.add_metric([version], of(p))
            yield fam


class ServerMetrics:
    def __init__(
        self,
        device: str,
        loaded_models: Callable[[], list[str]],
        pending_pairs: Callable[[], int],
        queued_requests: Callable[[], int] = lambda: 0,
    ) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)

        def counter(name: str, doc: str, labels: Sequence[str] = TASK_MODEL) -> Counter:
            return Counter(name, doc, labels, registry=r)

        def histogram(name: str, doc: str, buckets: Sequence[float]) -> Histogram:
            return Histogram(name, doc, TASK_MODEL, buckets=buckets, registry=r)

        def gauge(name: str, doc: str, value: Callable[[], float]) -> None:
            Gauge(name, doc, registry=r).set_function(value)

        self.requests = counter("vitrine_gpu_requests", "HTTP requests by route and status code", ("route", "status"))
        self.errors = counter(
            "vitrine_gpu_errors",
            "Error responses by kind (bad_request, model_not_found, inference_failed, ...)",
            ("kind",),
        )
        self.request_seconds = histogram(
            "vitrine_gpu_request_seconds", "Invocation latency inside the server", _LATENCY
        )
        self.batch_size = histogram("vitrine_gpu_batch_size_pairs", "Pairs per score_batch call", _BATCH_PAIRS)
        self.batch_requests = histogram(
            "vitrine_gpu_batch_requests", "Requests sharing one score_batch call", _BATCH_REQS
        )
        self.queue_seconds = histogram(
            "vitrine_gpu_queue_seconds", "Request wait before its first batch started", _LATENCY
        )
        self.inference_seconds = histogram("vitrine_gpu_inference_seconds", "score_batch wall time per batch", _LATENCY)
        self.batch_failures = counter("vitrine_gpu_batch_failures", "score_batch calls that raised")
        self.pairs = counter(
            "vitrine_gpu_pairs_scored", "Pairs scored (search: query-document; recommend: user-candidate)"
        )
        self.model_loads = counter("vitrine_gpu_model_loads", "Heavy model loads", ())
        gauge("vitrine_gpu_models_loaded", "Heavy model versions held in memory", lambda: float(len(loaded_models())))
        gauge("vitrine_gpu_queue_pending_pairs", "Pairs waiting for a batch", lambda: float(pending_pairs()))
        gauge(
            "vitrine_gpu_queue_requests",
            "Requests waiting for their first batch (queue depth)",
            lambda: float(queued_requests()),
        )
        self.admitted = counter("vitrine_gpu_admitted", "Requests admitted to the batch queue")
        self.shed = counter(
            "vitrine_gpu_shed",
            "Requests refused at admission (503 overloaded): reason deadline | queue_full",
            (*TASK_MODEL, "reason"),
        )
        self.expired_in_queue = counter(
            "vitrine_gpu_expired_in_queue",
            "Admitted requests whose deadline passed while queued: dropped before inference",
        )
        self.abandoned = counter(
            "vitrine_gpu_abandoned_in_queue", "Queued requests whose client disconnected: dropped before inference"
        )
        self.model_info = Gauge(
            "vitrine_gpu_model_loaded_info",
            "1 for each loaded model version (search heavy and recs-heavy)",
            ("version", "device"),
            registry=r,
        )
        self._device = device
        self._loaded_models = loaded_models
        r.register(GpuCollector(device))
        # process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, … and the host's memory
        ProcessCollector(registry=r)
        r.register(HostMemoryCollector())

    def admission_totals(self) -> tuple[float, float]:
        """(admitted, shed) requests since the start, every task and model together (the shed-rate metric)."""

        def total(c: Counter) -> float:
            return sum(s.value for m in c.collect() for s in m.samples if s.name.endswith("_total"))

        return total(self.admitted), total(self.shed)

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
