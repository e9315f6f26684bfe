"""FLOPs of the search heavy model per (query, product) pair, counted from its config (matmuls only: 2·m·n·k each), and
the peak the bench divides achieved FLOP/s by: the best of several timed matmul runs in the same bench run, and an
MFU line that is never above 100 %.

One BERT layer over L tokens (hidden H, intermediate I): Q/K/V/O projections 2·L·4H², feed-forward 2·L·2HI,
attention scores + context 2·2·L²·H. Per pair (L_q query tokens, L_d product tokens, n requests' pairs share one
query): query trunk ``num_layers`` layers over L_q / n, product trunk ``num_layers`` layers over L_d (zero when
the term cache holds the product), joint layers over L_q + L_d, head MLP 2·(3H·H + H). Padding is not counted
(useful work only).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

# bf16 dense tensor-core peaks (no sparsity), FLOP/s, by a substring of torch.cuda.get_device_name()
GPU_BF16_PEAK = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12}


def layer_flops(tokens: float, hidden: int, intermediate: int) -> float:
    return 2 * tokens * (4 * hidden * hidden + 2 * hidden * intermediate) + 4 * tokens * tokens * hidden


@dataclass(frozen=True)
class PairFlops:
    full: float  # every pair runs the product trunk (no term cache: what the peer does)
    cached: float  # product trunk states from the term cache
    query_tokens: float
    doc_tokens: float


def pair_flops(
    *,
    hidden: int,
    intermediate: int,
    num_layers: int,
    num_cross_layers: int,
    query_tokens: float,
    doc_tokens: float,
    pairs_per_query: int,
) -> PairFlops:
    q = num_layers * layer_flops(query_tokens, hidden, intermediate) / max(1, pairs_per_query)
    d = num_layers * layer_flops(doc_tokens, hidden, intermediate)
    joint = num_cross_layers * layer_flops(query_tokens + doc_tokens, hidden, intermediate)
    head = 2 * (3 * hidden * hidden + hidden)
    return PairFlops(q + d + joint + head, q + joint + head, query_tokens, doc_tokens)


@dataclass
class PeakRuns:
    """The matmul peak a bench divides achieved FLOP/s by: the best of several timed matmul runs, measured in the
    same process and the same bench run (before and after its levels), so a peak taken at one loaded moment — a
    single run while something else held the cores — cannot stand alone. ``datasheet``: the named GPU's bf16 dense
    peak, shown beside the measured one."""

    what: str
    runs: list[float] = field(default_factory=list)
    datasheet: float | None = None
    #: timed with int8 dynamic-quantized Linear layers (the CPU serving path) instead of fp32 matmuls
    int8: bool = False

    @property
    def best(self) -> float | None:
        return max(self.runs) if self.runs else None

    def describe(self) -> str:
        if not self.runs:
            return f"peak: not measured ({self.what})"
        lo, hi = min(self.runs), max(self.runs)
        sheet = f"; datasheet {self.datasheet / 1e9:.1f} GFLOP/s" if self.datasheet else ""
        return (
            f"peak: {hi / 1e9:.1f} GFLOP/s, the best of {len(self.runs)} timed {self.what} runs measured in this "
            f"bench run (runs spread {lo / 1e9:.1f}-{hi / 1e9:.1f} GFLOP/s{sheet})"
        )


def matmul_rates(device: str, reps: int = 5, n: int | None = None, int8: bool = False) -> list[float]:
    """FLOP/s of ``reps`` timed n×n matmuls after one untimed: fp32 2048² on CPU (torch's current thread count) —
    or, ``int8``, a dynamically quantized int8 Linear of 2048² (what the CPU serving path runs) — and bf16 8192² on
    CUDA (synchronised)."""
    cuda = device.startswith("cuda")
    n = n or (8192 if cuda else 2048)
    if int8 and not cuda:
        layer = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(torch.nn.Linear(n, n, bias=False)), {torch.nn.Linear}, dtype=torch.qint8
        )
        x = torch.randn(n, n)

        def step() -> None:
            with torch.inference_mode():
                layer(x)

    else:
        dtype = torch.bfloat16 if cuda else torch.float32
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)

        def step() -> None:
            torch.matmul(a, b)

    step()
    rates = []
    for _ in range(reps):
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        rates.append(2 * n**3 / (time.perf_counter() - t))
    return rates


def matmul_peak(device: str, int8: bool = False) -> PeakRuns:
    """An empty PeakRuns for ``device`` (add runs with ``measure_into``), named for what it times; ``int8``: the CPU
    int8 serving path's (dynamically quantized Linear layers), whose ceiling an fp32 peak understates."""
    if device.startswith("cuda") and torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return PeakRuns(f"bf16 torch.matmul 8192² on {name}", datasheet=gpu_peak(name))
    if int8:
        return PeakRuns("int8 dynamic-quantized Linear 2048² (CPU)", int8=True)
    return PeakRuns("fp32 torch.matmul 2048² (CPU)")


def measure_into(peak: PeakRuns, device: str, reps: int = 5) -> PeakRuns:
    """Adds ``reps`` timed runs to ``peak`` (a failed measurement, e.g. no CUDA here, adds none)."""
    cuda = device.startswith("cuda") and torch.cuda.is_available()
    try:
        peak.runs.extend(matmul_rates("cuda" if cuda else "cpu", reps, int8=peak.int8 and not cuda))
    except RuntimeError:
        pass
    return peak


def mfu_pct(achieved: float, peak: float | None) -> float | None:
    """MFU in percent, or None when there is no peak or achieved exceeds it (the peak measurement is then suspect)."""
    if not peak:
        return None
    pct = 100 * achieved / peak
    return round(pct, 2) if pct <= 100 else None


def mfu_text(achieved: float, peak: float | None) -> str:
    """The MFU figure ("MFU 42.0%"), never above 100 %: when achieved FLOP/s exceed the peak, the line says the peak is suspect."""
    if not peak:
        return "MFU n/a (no peak measured)"
    pct = mfu_pct(achieved, peak)
    if pct is None:
        return (
            f"MFU n/a: {achieved / 1e9:.1f} GFLOP/s achieved exceeds the measured peak {peak / 1e9:.1f} GFLOP/s "
            "(the peak measurement is suspect: re-run on an idle machine)"
        )
    return f"MFU {pct:.1f}%"


def gpu_peak(name: str) -> float | None:
    for key, peak in GPU_BF16_PEAK.items():
        if key in name:
            return peak
    return None


__all__ = [
    "GPU_BF16_PEAK",
    "PairFlops",
    "PeakRuns",
    "gpu_peak",
    "layer_flops",
    "matmul_peak",
    "matmul_rates",
    "measure_into",
    "mfu_pct",
    "mfu_text",
    "pair_flops",
]
