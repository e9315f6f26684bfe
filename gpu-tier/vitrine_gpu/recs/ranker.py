"""The light recommendation ranker: the search light MLP (``search.light.model.LightMLP``) over ``recs.features``, trained
listwise on a time split and exported to ONNX.

Training lists for a cut ``c``: tables fitted on interactions before ``c``; for each returning customer who buys in
``[c, c + window)``: the merged candidates, their features (from the history as the edge sees it in D1,
``edge_view.served``) and binary labels (bought in the window). Lists with no
positive are dropped. Loss: multi-positive softmax cross-entropy over each list (ListNet with a uniform target over
the positives).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..search.light.export import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx, onnx_parity, torch_scores
from ..search.light.model import LightMLP
from .data import Interactions, truth_sets
from .edge_view import served
from .features import FEATURE_NAMES, NUM_FEATURES, features
from .sources import Candidates, SourceConfig, Tables, candidates, fit_tables


@dataclass(frozen=True)
class RankerConfig:
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    epochs: int = 12
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_lists: int = 32
    window_days: float = 30.0
    cuts: int = 2  # label windows [T - k*window, T - (k-1)*window) for k = 1..cuts
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UserList:
    user: int
    cut: float  # features from interactions before this time; labels from the window after it
    cands: Candidates
    x: np.ndarray  # [n, F]
    y: np.ndarray  # [n] 0/1


def lists_for_window(
    inter: Interactions, start: float, end: float, scfg: SourceConfig, tables: Tables | None = None
) -> tuple[Tables, list[UserList]]:
    hist = inter.before(start)
    t = tables or served(fit_tables(hist, start, scfg))
    truth = truth_sets(hist, inter.between(start, end))
    out = []
    for u in sorted(truth):
        c = candidates(t, u)
        y = np.fromiter((1.0 if i in truth[u] else 0.0 for i in c.items.tolist()), np.float32, count=c.items.size)
        out.append(UserList(u, start, c, features(t, u, c), y))
    return t, out


def training_lists(
    inter: Interactions, until: float, cfg: RankerConfig, scfg: SourceConfig, progress: Any = None
) -> list[UserList]:
    """Lists from ``cfg.cuts`` label windows ending at ``until`` (everything strictly before ``until``)."""
    out: list[UserList] = []
    for k in range(cfg.cuts, 0, -1):
        start = until - k * cfg.window_days
        _, ls = lists_for_window(inter, start, start + cfg.window_days, scfg)
        out += [l for l in ls if l.y.sum() > 0]
        if progress:
            progress(f"ranker lists for the window starting {start:.0f}: {len(ls)} users")
    return out


def _pad(lists: Sequence[UserList]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    m = max(l.x.shape[0] for l in lists)
    x = np.zeros((len(lists), m, NUM_FEATURES), np.float32)
    y = np.zeros((len(lists), m), np.float32)
    mask = np.zeros((len(lists), m), bool)
    for k, l in enumerate(lists):
        n = l.x.shape[0]
        x[k, :n], y[k, :n], mask[k, :n] = l.x, l.y, True
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask)


def listwise_loss(scores: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over lists of -sum_pos log softmax(scores)_pos / n_pos (padding masked out)."""
    s = scores.masked_fill(~mask, -1e9)
    logp = torch.log_softmax(s, dim=1)
    npos = y.sum(dim=1).clamp(min=1.0)
    return (-(logp * y).sum(dim=1) / npos).mean()


def fit_ranker(lists: Sequence[UserList], cfg: RankerConfig = RankerConfig()) -> LightMLP:
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = LightMLP(NUM_FEATURES, cfg.hidden, cfg.dropout)
    model.set_normalisation(np.concatenate([l.x for l in lists]))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = [_pad(lists[i : i + cfg.batch_lists]) for i in range(0, len(lists), cfg.batch_lists)]
    for _ in range(cfg.epochs):
        model.train()
        for b in rng.permutation(len(batches)):
            x, y, mask = batches[b]
            loss = listwise_loss(model(x), y, mask)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


def score(model: LightMLP, x: np.ndarray) -> np.ndarray:
    return torch_scores(model, x) if len(x) else np.zeros(0, np.float32)


def save_ranker(
    model: LightMLP, out_dir: Path, cfg: RankerConfig, scfg: SourceConfig, parity_rows: np.ndarray
) -> dict[str, Any]:
    """model.onnx + model.pt + parity.json + ranker.json into ``out_dir``; returns the manifest fields."""
    out_dir.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out_dir / "model.onnx", NUM_FEATURES)
    torch.save(model.state_dict(), out_dir / "model.pt")
    diff = onnx_parity(model, out_dir / "model.onnx", parity_rows)
    if diff > 1e-4:
        raise RuntimeError(f"onnxruntime vs PyTorch differ by {diff}")
    sample = parity_rows[np.linspace(0, len(parity_rows) - 1, num=min(32, len(parity_rows))).astype(int)]
    (out_dir / "parity.json").write_text(
        json.dumps(
            {"inputs": [[float(v) for v in r] for r in sample], "outputs": [float(v) for v in score(model, sample)]}
        )
        + "\n"
    )
    meta = {
        "task": "recommend",
        "features": list(FEATURE_NAMES),
        "input": {"name": INPUT_NAME, "dtype": "float32", "shape": ["N", NUM_FEATURES]},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["N"]},
        "opset": OPSET,
        "normalisation": "inside the graph (mean / inv_std buffers)",
        "ranker": cfg.to_dict(),
        "sources": scfg.to_dict(),
        "onnx_max_abs_diff": diff,
        "loss": "multi-positive listwise softmax cross-entropy",
    }
    (out_dir / "ranker.json").write_text(json.dumps({"hidden": list(cfg.hidden), "dropout": cfg.dropout}) + "\n")
    return meta


def load_ranker(d: Path) -> LightMLP:
    spec = json.loads((d / "ranker.json").read_text())
    model = LightMLP(NUM_FEATURES, tuple(spec["hidden"]), spec["dropout"])
    model.load_state_dict(torch.load(d / "model.pt", map_location="cpu", weights_only=True))
    model.eval()
    return model


# (user, cut, candidate item indices best-first by the light ranker, labels, light scores): ranked_lists' rows
RankedList = tuple[int, float, np.ndarray, np.ndarray, np.ndarray]


def ranked_lists(lists: Sequence[UserList], rc: RankerConfig, model: LightMLP | None = None) -> list[RankedList]:
    """The ranker's lists re-ordered by light scores (best first), with those scores: the heavy residual phase input.

    Scores are cross-fitted when the lists span several cuts (each cut's lists scored by a ranker fitted on the other
    cuts), so the residual sees the light ranker's out-of-sample errors; with one cut, ``model`` scores in-sample."""
    cuts = sorted({l.cut for l in lists})
    scorer: dict[float, LightMLP] = {}
    if len(cuts) > 1:
        for c in cuts:
            scorer[c] = fit_ranker([l for l in lists if l.cut != c], rc)
    out = []
    for l in lists:
        m = scorer.get(l.cut, model)
        if m is None:
            raise ValueError("lists of one cut are scored by `model`, the ranker fitted on them")
        s = score(m, l.x)
        o = np.argsort(-s, kind="stable")
        out.append((l.user, l.cut, l.cands.items[o], l.y[o], s[o]))
    return out
