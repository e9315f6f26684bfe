"""Heavy cross-encoder: document formatting, save/load round trip, scoring invariants, training loop, registry."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from vitrine_gpu import paths, registry
from vitrine_gpu.search.heavy.model import (
    CrossEncoder,
    build_heavy,
    encode_texts,
    format_document,
    load_heavy,
    save_heavy,
    save_tiny_heavy,
)
from vitrine_gpu.search.heavy.train import HeavyConfig, TextPool, TrunkCache, fit_pools, listwise_loss, score_pool


def test_format_document_order_and_empty_fields() -> None:
    doc = {
        "id": "x",
        "title": " Red  Shoe ",
        "brand": "",
        "color": "red",
        "bullets": "light\nfast",
        "description": "A shoe.",
        "category": "Shoes",
    }
    assert format_document(doc) == "Red Shoe | red | light fast | A shoe."
    esci = {"title": "T", "brand": None, "color": None, "bullet_points": "b1\nb2", "description": ""}
    assert format_document(esci) == "T | b1 b2"
    assert format_document({"title": "abc def"}, max_chars=3) == "abc"


def test_encode_texts_pads_to_multiple_of_8_within_budget() -> None:
    _, tok, _ = build_heavy(tiny=True)
    ids, mask = encode_texts(tok, ["a b c", "word " * 200], 20)
    assert ids.shape == mask.shape and ids.shape[1] == 20  # truncated to the budget
    ids, mask = encode_texts(tok, ["a b c"], 64)
    assert ids.shape[1] == 8 and int(mask.sum()) == 5  # [CLS] a b c [SEP], padded to 8


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_heavy(tmp_path_factory.mktemp("heavy") / "tiny")


PAIRS = [
    ("red running shoes", {"id": "1", "title": "Nike red running shoe", "brand": "Nike"}),
    ("red running shoes", {"id": "2", "title": "Stainless steel cooking pot", "description": "Induction-ready."}),
    ("usb c cable", {"id": "3", "title": "USB-C to USB-C cable 2m", "bullets": "fast charging\n60W"}),
    ("usb c cable", {"id": "4", "title": "Wireless mouse"}),
    ("red running shoes", {"id": "5", "title": "Trail running shoes, red/black", "color": "red"}),
]


def test_tiny_model_round_trip_and_scoring_invariants(tiny_dir: Path) -> None:
    cfg = json.loads((tiny_dir / "heavy_config.json").read_text())
    assert cfg["max_tokens"] == cfg["max_query_tokens"] + cfg["max_doc_tokens"]
    assert cfg["weights_source"]["model_license"] == "Apache-2.0"
    scorer = load_heavy(tiny_dir, "cpu")
    s = scorer.score_batch(PAIRS)
    assert len(s) == len(PAIRS) and all(isinstance(x, float) and math.isfinite(x) for x in s)
    assert scorer.score_batch([]) == []
    # order-preserving and independent of batching / of the other pairs in the call
    rev = scorer.score_batch(PAIRS[::-1])
    assert rev[::-1] == pytest.approx(s, abs=1e-4)
    small = load_heavy(tiny_dir, "cpu", batch_size=2).score_batch(PAIRS)
    assert small == pytest.approx(s, abs=1e-4)
    alone = scorer.score_batch([PAIRS[2]])
    assert alone[0] == pytest.approx(s[2], abs=1e-4)
    # a reload gives the same scores
    assert load_heavy(tiny_dir, "cpu").score_batch(PAIRS) == pytest.approx(s, abs=1e-6)


def test_int8_quantised_cpu_scorer_stays_close(tiny_dir: Path) -> None:
    fp = load_heavy(tiny_dir, "cpu", quantize=False).score_batch(PAIRS)
    q = load_heavy(tiny_dir, "cpu", quantize=True)
    assert q.quantized
    qs = q.score_batch(PAIRS)
    assert len(qs) == len(fp)
    assert max(abs(a - b) for a, b in zip(qs, fp)) < 0.5 * (max(fp) - min(fp) + 1e-3) + 0.05


def _toy_pools() -> list[TextPool]:
    pools = []
    colours = ["red", "blue", "green", "black", "white", "yellow"]
    items = ["shoe", "mug", "lamp", "chair", "shirt", "bag"]
    for i, c in enumerate(colours):
        for j, it in enumerate(items[:3]):
            docs, gains = [], []
            for c2 in colours:
                docs.append(f"{c2} {it} | brand{j} | {c2}")
                gains.append(1.0 if c2 == c else 0.0)
            pools.append(TextPool(f"{i}-{j}", f"{c} {it}", docs, gains))
    return pools


def test_cached_trunk_scores_equal_full_forward_and_training_lowers_loss(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model, tok, arch = build_heavy(tiny=True, max_query_tokens=16, max_doc_tokens=32)
    pools = _toy_pools()
    cache = TrunkCache(model, tok, 16, 32)
    cache.add_pools(pools)
    d = save_heavy(model, tok, tmp_path / "m", {}, arch)
    scorer = load_heavy(d, "cpu")
    p = pools[0]
    full = scorer.score_texts([p.query] * len(p.docs), p.docs)
    assert score_pool(model, cache, p) == pytest.approx(full, abs=1e-2)  # fp16 cache vs fp32 forward

    def mean_loss(m: CrossEncoder) -> float:
        return sum(
            float(listwise_loss(torch.tensor(score_pool(m, cache, q)), torch.tensor(q.gains))) for q in pools
        ) / len(pools)

    cfg = HeavyConfig(epochs=15, lr=3e-3, queries_per_step=2, threads=1)
    trained = fit_pools(pools, cfg, model, cache)
    assert mean_loss(trained) < mean_loss(model) - 0.05
    # the base model is not modified by training (fit_pools trains a copy)
    assert score_pool(model, cache, p) == pytest.approx(full, abs=1e-2)


def test_unfrozen_trunk_fine_tunes_the_whole_network_on_raw_text(tmp_path: Path) -> None:
    """The CUDA configuration's loop (trunk unfrozen, no cache), run here on CPU with the tiny model."""
    torch.manual_seed(0)
    model, tok, arch = build_heavy(tiny=True, max_query_tokens=16, max_doc_tokens=32)
    pools = _toy_pools()
    cfg = HeavyConfig(
        epochs=15,
        lr=3e-3,
        head_lr=3e-3,
        trunk_lr=3e-3,
        queries_per_step=2,
        threads=1,
        max_query_tokens=16,
        max_doc_tokens=32,
        freeze_trunk=False,
    )

    def mean_loss(m: CrossEncoder) -> float:
        return sum(
            float(listwise_loss(torch.tensor(score_pool(m, None, q, tokenizer=tok, config=cfg)), torch.tensor(q.gains)))
            for q in pools
        ) / len(pools)

    with pytest.raises(ValueError):
        fit_pools(pools, cfg, model, TrunkCache(model, tok, 16, 32))  # a cache would hold stale trunk states
    trained = fit_pools(pools, cfg, model, None, tokenizer=tok)
    assert mean_loss(trained) < mean_loss(model) - 0.05
    changed = [
        n
        for n, p in trained.encoder.named_parameters()
        if not torch.equal(p, dict(model.encoder.named_parameters())[n])
    ]
    assert changed, "the trunk was trained"
    # the raw-text scores are the served model's scores
    d = save_heavy(trained, tok, tmp_path / "m", {}, arch)
    p = pools[0]
    served = load_heavy(d, "cpu").score_texts([p.query] * len(p.docs), p.docs)
    assert score_pool(trained, None, p, tokenizer=tok, config=cfg) == pytest.approx(served, abs=1e-4)


def test_auto_config_matches_the_device() -> None:
    cfg = HeavyConfig.auto()
    if torch.cuda.is_available():
        assert cfg.device == "cuda" and not cfg.freeze_trunk
    else:
        # full on ESCI: the bge-small PreTTR configuration (the CV winner); reduced / synthetic: the small MiniLM one

        if paths.esci_dir() is not None:
            assert cfg == HeavyConfig.for_backbone("bge-small-en-v1.5") and cfg.num_layers == 12
        else:
            assert cfg == HeavyConfig()
        assert HeavyConfig.auto(backbone="bge-small-en-v1.5").num_layers == 12
        assert HeavyConfig.auto(reduced=True) == HeavyConfig.reduced()
        assert HeavyConfig.reduced().backbone == "all-MiniLM-L6-v2"
        assert HeavyConfig.auto(backbone="all-MiniLM-L6-v2") == HeavyConfig()


def test_registered_heavy_version_loads(tmp_path: Path, tiny_dir: Path) -> None:
    reg = tmp_path / "registry"
    v = registry.register("heavy", tiny_dir, {"max_tokens": 48}, registry=reg)
    assert v.startswith("heavy-")
    assert registry.verify("heavy", v, registry=reg) == []
    s = load_heavy(registry.version_dir("heavy", v, registry=reg), "cpu").score_batch(PAIRS[:2])
    assert len(s) == 2


def test_cls_pooling_and_query_prefix_survive_save_load_and_match_the_trunk_cache(tmp_path: Path) -> None:
    """bge-style backbones: CLS pooling in the cosine skip and a query prefix applied by serving and the cache."""
    torch.manual_seed(0)
    model, tok, arch = build_heavy(tiny=True, max_query_tokens=16, max_doc_tokens=32)
    bge_like = CrossEncoder(model.encoder, 1, pooling="cls", query_prefix="search for: ", copy_cross_from_trunk=False)
    bge_like.load_state_dict(model.state_dict())
    d = save_heavy(bge_like, tok, tmp_path / "m", {}, arch)
    cfg = json.loads((d / "heavy_config.json").read_text())
    assert (cfg["pooling"], cfg["query_prefix"]) == ("cls", "search for: ")
    scorer = load_heavy(d, "cpu")
    assert (scorer.model.pooling, scorer.model.query_prefix) == ("cls", "search for: ")
    p = _toy_pools()[0]
    served = scorer.score_texts([p.query] * len(p.docs), p.docs)
    cache = TrunkCache(bge_like, tok, 16, 32)
    cache.add_pools([p])
    assert score_pool(bge_like, cache, p) == pytest.approx(served, abs=1e-2)
    # the prefix and the pooling change the scores (they are really applied)
    plain = load_heavy(save_heavy(model, tok, tmp_path / "plain", {}, arch), "cpu").score_texts(
        [p.query] * len(p.docs), p.docs
    )
    assert max(abs(a - b) for a, b in zip(served, plain)) > 1e-4
    with pytest.raises(ValueError):
        CrossEncoder(model.encoder, 1, pooling="max")
