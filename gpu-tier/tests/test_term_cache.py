"""Product term-representation cache (vitrine_gpu.search.heavy.term_cache) and the heavy scorer's cached path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from vitrine_gpu.search.heavy.model import format_document, load_heavy, save_tiny_heavy
from vitrine_gpu.search.heavy.term_cache import PrecomputeProgress, TermCache

PAIRS = [
    ("red running shoes", {"id": "1", "title": "Nike red running shoe", "brand": "Nike"}),
    ("red running shoes", {"id": "2", "title": "Stainless steel cooking pot", "description": "Induction-ready " * 9}),
    ("usb c cable", {"id": "3", "title": "USB-C to USB-C cable 2m", "bullets": "fast charging\n60W"}),
    ("usb c cable", {"id": "4", "title": "Wireless mouse"}),
    ("red running shoes", {"id": "5", "title": "Trail running shoes, red/black", "color": "red"}),
    ("usb c cable", {"id": "1", "title": "Nike red running shoe", "brand": "Nike"}),
]


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("term-cache")
    return save_tiny_heavy(root / "heavy-a", seed=1), save_tiny_heavy(root / "heavy-b", seed=2)


def test_cached_scores_equal_the_full_network(tiny_dirs: tuple[Path, Path]) -> None:
    a, _ = tiny_dirs
    full = load_heavy(a, "cpu").score_batch(PAIRS)
    for dtype, tol in (("float32", 1e-5), ("float16", 2e-3)):
        cache = TermCache(1 << 20, dtype=dtype)
        scorer = load_heavy(a, "cpu", term_cache=cache)
        cold = scorer.score_batch(PAIRS)
        st = cache.stats()
        # product "1" appears twice with the same text: stored once, its second use in the call counts as a miss
        assert (st.entries, st.hits, st.misses) == (5, 0, 6)
        warm = scorer.score_batch(PAIRS)
        assert cache.stats().hits == 6 and cache.stats().misses == 6
        assert cold == pytest.approx(full, abs=tol)
        assert warm == pytest.approx(cold, abs=1e-6)
        # batching and order do not change the cached path's scores
        small = load_heavy(a, "cpu", term_cache=cache, batch_size=2).score_batch(PAIRS[::-1])
        assert small[::-1] == pytest.approx(warm, abs=1e-5)


def test_a_new_model_version_never_reads_old_entries(tiny_dirs: tuple[Path, Path]) -> None:
    a, b = tiny_dirs
    cache = TermCache(1 << 20, dtype="float32")
    load_heavy(a, "cpu", term_cache=cache).score_batch(PAIRS)
    hits_before = cache.stats().hits
    scorer_b = load_heavy(b, "cpu", term_cache=cache)
    got = scorer_b.score_batch(PAIRS)
    assert cache.stats().hits == hits_before  # no entry of version a served version b
    assert got == pytest.approx(load_heavy(b, "cpu").score_batch(PAIRS), abs=1e-5)
    assert {k.version for k in cache._entries} == {"heavy-a", "heavy-b"}
    assert cache.drop_version("heavy-a") == 5 and cache.stats().entries == 5


def test_a_changed_product_text_is_a_new_entry(tiny_dirs: tuple[Path, Path]) -> None:
    a, _ = tiny_dirs
    cache = TermCache(1 << 20, dtype="float32")
    scorer = load_heavy(a, "cpu", term_cache=cache)
    q, doc = PAIRS[0]
    first = scorer.score_batch([(q, doc)])[0]
    changed = {**doc, "title": "Adidas blue walking boot"}
    fresh = scorer.score_batch([(q, changed)])[0]
    assert cache.stats().entries == 2 and cache.stats().hits == 0
    assert fresh == pytest.approx(load_heavy(a, "cpu").score_batch([(q, changed)])[0], abs=1e-5)
    assert fresh != pytest.approx(first, abs=1e-6)


def test_eviction_by_bytes_is_least_recently_used_first() -> None:
    cache = TermCache(max_bytes=3 * 4 * 10 * 8, dtype="float32")  # room for three [10, 8] float32 entries
    keys = [cache.key("v1", f"p{i}", f"text {i}") for i in range(4)]
    cache.put_many((k, torch.zeros(10, 8)) for k in keys[:3])
    assert cache.stats().bytes == 3 * 320
    cache.get_many([keys[0]])  # p0 becomes most recently used: p1 is the LRU entry
    cache.put_many([(keys[3], torch.zeros(10, 8))])
    st = cache.stats()
    assert (st.entries, st.bytes, st.evictions) == (3, 960, 1)
    assert [t is not None for t in cache.get_many(keys)] == [True, False, True, True]
    cache.put_many([(cache.key("v1", "big", "x"), torch.zeros(100, 8))])  # larger than the budget: skipped
    assert cache.stats().entries == 3
    with pytest.raises(ValueError):
        TermCache(-1)
    assert TermCache(0).enabled is False


def test_precompute_fills_the_cache_and_reports_progress(tiny_dirs: tuple[Path, Path]) -> None:
    a, _ = tiny_dirs
    cache = TermCache(1 << 20, dtype="float32")
    scorer = load_heavy(a, "cpu", term_cache=cache)
    products = [(str(d["id"]), format_document(d)) for _, d in PAIRS]
    progress = PrecomputeProgress("heavy-a", total=len(products))
    assert scorer.precompute(products, progress, chunk=2) == 5
    assert progress.done == len(products) and cache.stats().entries == 5
    scorer.score_batch(PAIRS)
    assert cache.stats().misses == 0 and cache.stats().hit_ratio == 1.0
    # a budget too small for the catalogue stops the precompute instead of churning the cache
    small = TermCache(600, dtype="float32")
    assert load_heavy(a, "cpu", term_cache=small).precompute(products, chunk=1) < 5
    assert small.stats().evictions == 0
