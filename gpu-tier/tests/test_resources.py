"""The gpu-tier's resource metrics on /metrics (prometheus_client's process collector: CPU seconds, resident memory,
open fds; host memory available and total) and the admission shed rate as CloudWatch EMF (the autoscaling alarm's
metric), from the real admission counters."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from vitrine_gpu.server.batcher import AdmissionEvent
from vitrine_gpu.server.prom import ServerMetrics
from vitrine_gpu.server.resources import HostMemoryCollector, ShedRateReporter, read_meminfo, shed_rate_emf


def samples(m: ServerMetrics) -> dict[str, float]:
    text = generate_latest(m.registry).decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


def test_metrics_expose_process_and_host_resources() -> None:
    got = samples(ServerMetrics("cpu", lambda: [], lambda: 0))
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"):
        assert got[name] > 0, name
    assert 0 < got["vitrine_gpu_host_memory_available_bytes"] < got["vitrine_gpu_host_memory_total_bytes"]
    assert got["vitrine_gpu_host_memory_total_bytes"] == read_meminfo()["MemTotal"]


def test_meminfo_parsing(tmp_path: Path) -> None:
    f = tmp_path / "meminfo"
    f.write_text("MemTotal:       16000000 kB\nMemFree:         1000 kB\nMemAvailable:    1500000 kB\n")
    assert read_meminfo(f) == {"MemTotal": 16000000 * 1024, "MemAvailable": 1500000 * 1024}
    assert [m.name for m in HostMemoryCollector(f).collect()] == [
        "vitrine_gpu_host_memory_total_bytes",
        "vitrine_gpu_host_memory_available_bytes",
    ]
    assert list(HostMemoryCollector(tmp_path / "absent").collect()) == []


def test_the_shed_rate_reaches_cloudwatch_as_emf_per_minute() -> None:
    m = ServerMetrics("cpu", lambda: [], lambda: 0)
    lines: list[str] = []
    rep = ShedRateReporter(m.admission_totals, "vitrine-ranker", "control", write=lines.append)
    for _ in range(6):
        m.observe_admission(AdmissionEvent("search", "h1", "admitted", ""))
    for reason in ("deadline", "queue_full"):
        m.observe_admission(AdmissionEvent("search", "h1", "shed", reason))
    first = rep.report()
    assert (first["ShedRequests"], first["AdmittedRequests"], first["ShedRate"]) == (2.0, 6.0, 0.25)
    assert rep.report()["ShedRate"] == 0.0  # the next minute counts only its own requests: none
    rec = json.loads(lines[0])
    (directive,) = rec["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Vitrine/GpuTier" and directive["Dimensions"] == [["EndpointName", "VariantName"]]
    assert {"Name": "ShedRate", "Unit": "None"} in directive["Metrics"]
    assert (rec["EndpointName"], rec["VariantName"]) == ("vitrine-ranker", "control")
    assert shed_rate_emf("e", "v", 0, 0, 0)["ShedRate"] == 0.0
