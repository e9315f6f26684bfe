"""recs.sequence: the heavy model's score contract, batching, save/load, and that training learns repeats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from vitrine_gpu.recs import data, synthetic
from vitrine_gpu.recs.sequence import SeqConfig, SeqRecModel, Vocab, make_samples, train

CFG = SeqConfig(
    d=16, heads=2, layers=1, max_len=20, epochs=4, batch=32, cuts_per_user=2, history_negatives=20, random_negatives=10
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> data.Interactions:
    p = synthetic.write(tmp_path_factory.mktemp("syn") / "s.csv.gz", n_customers=60, n_products=80, days=200, seed=3)
    return data.load(p)


@pytest.fixture(scope="module")
def model(store: data.Interactions) -> SeqRecModel:
    torch.set_num_threads(1)
    return train(store, data.day_of("2011-06-01"), CFG)


def test_score_contract(model: SeqRecModel, store: data.Interactions) -> None:
    codes = list(store.catalogue.codes)
    now = data.day_of("2011-06-01")
    seq = [(codes[0], now - 10), (codes[1], now - 3.5), (codes[0], now - 1)]
    cands = [codes[0], codes[5], "NOT-A-CODE", codes[7]]
    s = model.score(seq, cands, now)
    assert s.shape == (4,) and s.dtype == np.float32 and np.all(np.isfinite(s))
    # each candidate is scored on its own: permuting the candidates permutes the scores
    perm = [3, 1, 0, 2]
    np.testing.assert_allclose(model.score(seq, [cands[i] for i in perm], now), s[perm], rtol=1e-5, atol=1e-5)
    # the order events are given in does not matter (they are sorted by time)
    np.testing.assert_allclose(model.score(list(reversed(seq)), cands, now), s, rtol=1e-5, atol=1e-5)
    # empty history and empty candidate lists are answers, not errors
    assert model.score([], cands, now).shape == (4,)
    assert model.score(seq, [], now).shape == (0,)


def test_batch_equals_single(model: SeqRecModel, store: data.Interactions) -> None:
    codes = list(store.catalogue.codes)
    now = data.day_of("2011-06-01")
    seqs = [[(codes[0], now - 1)], [(c, now - k) for k, c in enumerate(codes[:30])], []]
    cands = [codes[:3], codes[10:17], codes[2:4]]
    batch = model.score_batch(seqs, cands, [now] * 3)
    for s, c, b in zip(seqs, cands, batch):
        np.testing.assert_allclose(model.score(s, c, now), b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError):
        model.score_batch(seqs, cands, [now])


def test_save_load_round_trip(model: SeqRecModel, store: data.Interactions, tmp_path: Path) -> None:
    model.save(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"model.pt", "config.json", "vocab.json"}
    again = SeqRecModel.load(tmp_path / "m")
    codes = list(store.catalogue.codes)
    now = data.day_of("2011-06-01")
    seq = [(codes[4], now - 2.0), (codes[9], now - 40.0)]
    np.testing.assert_allclose(again.score(seq, codes[:12], now), model.score(seq, codes[:12], now), rtol=1e-6)
    assert again.cfg == model.cfg


def test_samples_respect_the_cut(store: data.Interactions) -> None:
    until = data.day_of("2011-06-01")
    vocab = Vocab.from_catalogue(store.catalogue, CFG.max_tokens)
    samples = make_samples(store, until, CFG, vocab)
    assert samples and all(sum(s.labels) > 0 for s in samples)
    assert all(len(s.cands) == len(s.labels) and len(s.seq) == len(s.age) <= CFG.max_len for s in samples)
    assert all(a >= 0 for s in samples for a in s.age)


def test_training_learns_the_users_staples(model: SeqRecModel, store: data.Interactions) -> None:
    """On the synthetic store people re-order staples: the model must rank a user's repeated items above items
    the user never bought."""
    now = data.day_of("2011-06-01")
    hist = store.before(now)
    codes = hist.catalogue.codes
    wins = 0
    users = hist.users()[:30]
    for u in users:
        m = hist.customer == u
        items, counts = np.unique(hist.item[m], return_counts=True)
        seq = [(codes[i], t) for i, t in zip(hist.item[m], hist.ts[m])]
        top = codes[items[np.argmax(counts)]]
        never = [codes[i] for i in range(len(codes)) if i not in set(items.tolist())][:10]
        s = model.score(seq, [top, *never], now)
        wins += int(s[0] > np.median(s[1:]))
    assert wins >= 0.8 * len(users)
