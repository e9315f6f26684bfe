"""FLOPs of the search heavy model per (query, product) pair, counted from its config (matmuls only: 2·m·n·k each), and
the peak the bench divides achieved FLOP/s by.

One BERT layer over L tokens (hidden H, intermediate I): Q/K/V/O projections 2·L·4H², feed-forward 2·L·2HI,
attention scores + context 2·2·L²·H. Per pair (L_q query tokens, L_d product tokens, n requests' pairs share one
query): query trunk ``num_layers`` layers over L_q / n, product trunk ``num_layers`` layers over L_d (zero when
the term cache holds the product), joint layers over L_q + L_d, head MLP 2·(3H·H + H). Padding is not counted
(useful work only).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

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


def measured_cpu_gemm_peak(n: int = 2048, reps: int = 5) -> float:
    """fp32 torch.matmul FLOP/s on n×n squares with torch's current thread count (best of ``reps``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def gpu_peak(name: str) -> float | None:
    for key, peak in GPU_BF16_PEAK.items():
        if key in name:
            return peak
    return None


def device_peak(device: str) -> tuple[float | None, str]:
    """(peak FLOP/s or None when unknown, what it is) of the device a bench ran on: on CUDA the named GPU's bf16
    dense peak, on CPU the fp32 GEMM rate measured here."""
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else device
        return gpu_peak(name), f"{name} bf16 dense peak"
    return measured_cpu_gemm_peak(), "measured fp32 torch.matmul 2048² peak on this machine"


__all__ = [
    "GPU_BF16_PEAK",
    "PairFlops",
    "device_peak",
    "gpu_peak",
    "layer_flops",
    "measured_cpu_gemm_peak",
    "pair_flops",
]
