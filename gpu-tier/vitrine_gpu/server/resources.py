"""The GPU tier's resource figures and its CloudWatch shed-rate metric.

- ``HostMemoryCollector`` — host memory available and total (``vitrine_gpu_host_memory_{available,total}_bytes``,
  from ``/proc/meminfo``'s MemAvailable / MemTotal), what prometheus_client's ``ProcessCollector`` (process CPU
  seconds, resident memory, open file descriptors: ``process_*``, registered beside it in ``prom.ServerMetrics``)
  lacks. The edge's ``gpu_memory`` alert reads 1 − available/total (README "Monitoring").
- ``shed_rate_emf`` / ``ShedRateReporter`` — once a minute, the admission-control shed rate (503 overloaded ÷
  requests that reached admission) as one CloudWatch embedded-metric-format line on stdout: on SageMaker the
  container's stdout goes to CloudWatch Logs, which turns the line into the metric ``Vitrine/GpuTier ShedRate``
  {EndpointName, VariantName} that the autoscaling step policy's alarm reads (infra/sagemaker/autoscaling.py). On
  when ``VITRINE_ENDPOINT_NAME`` is set (deploy_endpoint.py sets it and ``VITRINE_VARIANT_NAME``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

NAMESPACE = "Vitrine/GpuTier"
MEMINFO = Path("/proc/meminfo")


def read_meminfo(path: Path = MEMINFO) -> dict[str, float]:
    """MemTotal and MemAvailable in bytes (``{}`` where the file is absent: not Linux)."""
    out: dict[str, float] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        key, _, rest = line.partition(":")
        if key in ("MemTotal", "MemAvailable"):
            parts = rest.split()
            out[key] = float(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out


class HostMemoryCollector(Collector):
    """Host memory available and total, read at scrape time."""

    def __init__(self, path: Path = MEMINFO) -> None:
        self.path = path

    def collect(self) -> Iterator[GaugeMetricFamily]:
        m = read_meminfo(self.path)
        if "MemTotal" in m:
            yield GaugeMetricFamily("vitrine_gpu_host_memory_total_bytes", "Host memory", value=m["MemTotal"])
        if "MemAvailable" in m:
            yield GaugeMetricFamily(
                "vitrine_gpu_host_memory_available_bytes",
                "Host memory available for new allocations without swapping (MemAvailable)",
                value=m["MemAvailable"],
            )


def shed_rate_emf(endpoint: str, variant: str, admitted: float, shed: float, at_ms: int) -> dict[str, object]:
    """One minute's admission figures as a CloudWatch embedded-metric-format record (ShedRate 0 with no traffic)."""
    total = admitted + shed
    return {
        "_aws": {
            "Timestamp": at_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["EndpointName", "VariantName"]],
                    "Metrics": [
                        {"Name": "ShedRate", "Unit": "None"},
                        {"Name": "ShedRequests", "Unit": "Count"},
                        {"Name": "AdmittedRequests", "Unit": "Count"},
                    ],
                }
            ],
        },
        "EndpointName": endpoint,
        "VariantName": variant,
        "ShedRate": shed / total if total else 0.0,
        "ShedRequests": shed,
        "AdmittedRequests": admitted,
    }


class ShedRateReporter:
    """Every ``period_s``, the admission counters' increase since the last report, as an EMF line (``write``)."""

    def __init__(
        self,
        counts: Callable[[], tuple[float, float]],
        endpoint: str,
        variant: str,
        period_s: float = 60.0,
        write: Callable[[str], None] = lambda line: print(line, flush=True),
    ) -> None:
        self.counts, self.endpoint, self.variant = counts, endpoint, variant
        self.period_s, self.write = period_s, write
        self._last = counts()
        self._stop = threading.Event()

    def report(self) -> dict[str, object]:
        admitted, shed = self.counts()
        rec = shed_rate_emf(
            self.endpoint, self.variant, admitted - self._last[0], shed - self._last[1], int(time.time() * 1000)
        )
        self._last = (admitted, shed)
        self.write(json.dumps(rec))
        return rec

    def start(self) -> ShedRateReporter:
        def loop() -> None:
            while not self._stop.wait(self.period_s):
                self.report()

        threading.Thread(target=loop, name="shed-rate-emf", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    @classmethod
    def from_env(cls, counts: Callable[[], tuple[float, float]]) -> ShedRateReporter | None:
        endpoint = os.environ.get("VITRINE_ENDPOINT_NAME")
        if not endpoint:
            return None
        return cls(counts, endpoint, os.environ.get("VITRINE_VARIANT_NAME", "live")).start()
