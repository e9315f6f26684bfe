"""The roofline's peak and MFU (vitrine_gpu.bench.flops): the peak is the best of several timed matmul runs measured
here and says so; MFU is never printed above 100 % — a figure that would be says the peak measurement is suspect."""

from __future__ import annotations

from vitrine_gpu.bench.flops import PeakRuns, matmul_peak, matmul_rates, measure_into, mfu_pct, mfu_text


def test_mfu_is_a_percentage_of_the_peak() -> None:
    assert mfu_pct(40e9, 100e9) == 40.0
    assert mfu_text(40e9, 100e9) == "MFU 40.0%"
    assert mfu_text(100e9, 100e9) == "MFU 100.0%"


def test_mfu_above_the_peak_is_never_printed_and_says_the_peak_is_suspect() -> None:
    # the week's "MFU 235.9%": 221.7 GFLOP/s achieved over a peak measured at a loaded moment (94 GFLOP/s)
    assert mfu_pct(221.7e9, 94e9) is None
    line = mfu_text(221.7e9, 94e9)
    assert "%" not in line
    assert line.startswith("MFU n/a: 221.7 GFLOP/s achieved exceeds the measured peak 94.0 GFLOP/s")
    assert "suspect" in line


def test_no_peak_is_no_mfu() -> None:
    assert mfu_pct(1e9, None) is None
    assert mfu_text(1e9, None) == "MFU n/a (no peak measured)"


def test_the_peak_is_the_best_of_its_runs_and_describes_them() -> None:
    p = PeakRuns("fp32 torch.matmul 2048² (CPU)", runs=[94e9, 184e9, 150e9])
    assert p.best == 184e9
    text = p.describe()
    assert text.startswith("peak: 184.0 GFLOP/s, the best of 3 timed fp32 torch.matmul 2048² (CPU) runs")
    assert "measured in this bench run" in text and "94.0-184.0 GFLOP/s" in text
    assert PeakRuns("x").best is None
    assert PeakRuns("x").describe() == "peak: not measured (x)"
    sheet = PeakRuns("bf16 torch.matmul 8192² on NVIDIA H100", runs=[700e12], datasheet=989e12).describe()
    assert "datasheet 989000.0 GFLOP/s" in sheet


def test_matmul_runs_are_timed_here_and_accumulate() -> None:
    rates = matmul_rates("cpu", reps=3, n=128)
    assert len(rates) == 3 and all(r > 0 for r in rates)
    p = matmul_peak("cpu")
    measure_into(p, "cpu", reps=2)
    measure_into(p, "cpu", reps=2)  # a second round (after the bench's levels) adds to the first
    assert len(p.runs) == 4 and p.best == max(p.runs)
    assert p.what.startswith("fp32 torch.matmul 2048²")


def test_the_cpu_int8_serving_path_has_its_own_peak() -> None:
    # vitrine's CPU path runs int8 Linear layers, which outrun an fp32 matmul: its MFU is against an int8 peak
    p = matmul_peak("cpu", int8=True)
    assert p.int8 and p.what.startswith("int8 dynamic-quantized Linear")
    rates = matmul_rates("cpu", reps=2, n=128, int8=True)
    assert len(rates) == 2 and all(r > 0 for r in rates)
