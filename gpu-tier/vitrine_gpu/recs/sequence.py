"""The heavy recommendation model: a SASRec-style transformer over the user's purchase sequence that scores candidates.

Input events: the user's last ``max_len`` purchases (item, time) before ``now``. Each event embeds as item-id
embedding + content embedding (mean of the item's description-token embeddings) + recency bucket (log2 days before
``now``) + position. A bidirectional transformer encoder reads the sequence (the target is the next window's
purchases, not the next item, so no causal mask). A candidate is scored from its own item + content embedding by
target attention over the encoded events, the mean-pooled user state, and two exact sequence statistics (how often
the candidate appears in the sequence and how long ago last), through a small MLP.

API (what the server's ``{"task": "recommend"}`` calls)::

    m = SeqRecModel.load(dir)
    m.score(sequence=[("85123A", ts_days), ...], candidates=["22423", ...], now=ts_days) -> np.ndarray [n]

``sequence``/``candidates`` are StockCodes; unknown codes map to the OOV slot (content-less). Save format: a
directory with ``model.pt`` (state dict), ``config.json`` (dimensions, training config) and ``vocab.json`` (codes and
their description tokens); registration adds ``manifest.json`` (``registry.register("recs-heavy", dir, …)``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .data import Catalogue, Interactions, invoices_by_user
from .ranker import RankedList, listwise_loss
from .sources import tokens

N_BUCKETS = 12
Event = tuple[str, float]


@dataclass(frozen=True)
class SeqConfig:
    d: int = 64
    heads: int = 2
    layers: int = 2
    max_len: int = 50
    max_tokens: int = 8
    dropout: float = 0.1
    epochs: int = 3
    lr: float = 2e-3
    batch: int = 64
    window_days: float = 30.0
    cuts_per_user: int = 4
    history_negatives: int = 80
    random_negatives: int = 20
    extra_candidates: int = 100  # residual phase: the light ranker's top N (the cascade's M)
    residual_epochs: int = 3
    residual_lr: float = 1e-3
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def recency_bucket(days: torch.Tensor) -> torch.Tensor:
    return torch.clamp(torch.floor(torch.log2(1.0 + days.clamp(min=0.0))), 0, N_BUCKETS - 1).long()


class SeqRec(nn.Module):
    item_tokens: torch.Tensor  # buffer: [n_items + 1, max_tokens] token ids, 0 pad

    def __init__(self, n_items: int, n_tokens: int, item_tokens: torch.Tensor, cfg: SeqConfig) -> None:
        super().__init__()
        d = cfg.d
        self.cfg = cfg
        self.item = nn.Embedding(n_items + 1, d, padding_idx=0)  # 0 = padding / unknown item
        self.tok = nn.Embedding(n_tokens + 1, d, padding_idx=0)
        self.register_buffer("item_tokens", item_tokens)  # [n_items + 1, max_tokens] token ids, 0 pad
        self.rec = nn.Embedding(N_BUCKETS, d)
        self.pos = nn.Embedding(cfg.max_len, d)
        layer = nn.TransformerEncoderLayer(d, cfg.heads, 2 * d, cfg.dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.q = nn.Linear(d, d)
        self.head = nn.Sequential(nn.Linear(3 * d + 3, 2 * d), nn.GELU(), nn.Linear(2 * d, 1))
        self.out_scale = nn.Parameter(torch.ones(1))  # reset small before the residual phase

    def embed_items(self, ids: torch.Tensor) -> torch.Tensor:
        toks = self.item_tokens[ids]  # [..., T]
        te = self.tok(toks)
        cnt = (toks > 0).sum(-1, keepdim=True).clamp(min=1)
        return self.item(ids) + te.sum(-2) / cnt

    def forward(self, seq: torch.Tensor, age: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        """seq [B, L] item ids (0 = pad, most recent last), age [B, L] days before now, cand [B, C] -> [B, C]."""
        B, L = seq.shape
        pad = seq == 0
        pos = torch.arange(L - 1, -1, -1, device=seq.device).unsqueeze(0).expand(B, L)  # 0 = most recent event
        h = self.embed_items(seq) + self.rec(recency_bucket(age)) + self.pos(pos)
        all_pad = pad.all(dim=1)
        safe_pad = pad.clone()
        safe_pad[all_pad, -1] = False  # an empty history attends to one pad slot
        o = self.norm(self.encoder(h, src_key_padding_mask=safe_pad))  # [B, L, d]
        o = o.masked_fill(pad.unsqueeze(-1), 0.0)
        valid = (~pad).float()
        user = o.sum(1) / valid.sum(1, keepdim=True).clamp(min=1.0)  # [B, d]
        e = self.embed_items(cand)  # [B, C, d]
        att = torch.einsum("bcd,bld->bcl", self.q(e), o) / math.sqrt(self.cfg.d)
        att = att.masked_fill(pad.unsqueeze(1), -1e9)
        p = torch.einsum("bcl,bld->bcd", torch.softmax(att, -1), o) * (~all_pad).float()[:, None, None]
        same = (cand.unsqueeze(-1) == seq.unsqueeze(1)) & ~pad.unsqueeze(1)  # [B, C, L]
        count = same.float().sum(-1)
        last_age = torch.where(same, age.unsqueeze(1), torch.full_like(same, 1e4, dtype=age.dtype)).amin(-1)
        stats = torch.stack([torch.log1p(count), torch.log1p(last_age.clamp(max=1e4)) / 10.0, (count > 0).float()], -1)
        z = torch.cat([p * e, user.unsqueeze(1) * e, e, stats], -1)
        return self.out_scale * self.head(z).squeeze(-1)


@dataclass
class Vocab:
    codes: list[str]  # item id k+1 -> codes[k]
    item_tokens: list[list[str]]
    tokens: list[str]  # token id k+1 -> tokens[k]
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {c: k + 1 for k, c in enumerate(self.codes)}

    @classmethod
    def from_catalogue(cls, cat: Catalogue, max_tokens: int) -> Vocab:
        it = [tokens(d)[:max_tokens] for d in cat.descriptions]
        toks = sorted({t for ts in it for t in ts})
        return cls(list(cat.codes), it, toks)

    def token_matrix(self, max_tokens: int) -> torch.Tensor:
        tid = {t: k + 1 for k, t in enumerate(self.tokens)}
        m = torch.zeros(len(self.codes) + 1, max_tokens, dtype=torch.long)
        for k, ts in enumerate(self.item_tokens):
            for j, t in enumerate(ts[:max_tokens]):
                m[k + 1, j] = tid.get(t, 0)
        return m

    def ids(self, codes: Sequence[str]) -> list[int]:
        return [self.index.get(c, 0) for c in codes]


def _batch_tensors(
    seqs: Sequence[Sequence[int]], ages: Sequence[Sequence[float]], cands: Sequence[Sequence[int]], max_len: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    B = len(seqs)
    L = max(1, min(max_len, max((len(s) for s in seqs), default=1)))
    C = max(1, max((len(c) for c in cands), default=1))
    s = torch.zeros(B, L, dtype=torch.long)
    a = torch.zeros(B, L, dtype=torch.float32)
    c = torch.zeros(B, C, dtype=torch.long)
    for b in range(B):
        sq, ag = list(seqs[b])[-L:], list(ages[b])[-L:]
        if sq:
            s[b, L - len(sq) :] = torch.as_tensor(sq)
            a[b, L - len(ag) :] = torch.as_tensor(ag, dtype=torch.float32)
        if len(cands[b]):
            c[b, : len(cands[b])] = torch.as_tensor(list(cands[b]))
    return s, a, c


class SeqRecModel:
    """A trained SeqRec with its vocabulary: the ``score`` contract, batching and the save/load format."""

    def __init__(self, net: SeqRec, vocab: Vocab, cfg: SeqConfig) -> None:
        self.net, self.vocab, self.cfg = net.eval(), vocab, cfg

    def score(self, sequence: Sequence[Event], candidates: Sequence[str], now: float | None = None) -> np.ndarray:
        return self.score_batch([sequence], [candidates], [now])[0]

    def score_batch(
        self, sequences: Sequence[Sequence[Event]], candidates: Sequence[Sequence[str]], now: Sequence[float | None]
    ) -> list[np.ndarray]:
        """One forward for many users; each list scores its own candidates (order kept)."""
        if not (len(sequences) == len(candidates) == len(now)):
            raise ValueError("sequences, candidates and now differ in length")
        seqs, ages, cands = [], [], []
        for sq, cd, t in zip(sequences, candidates, now):
            sq = sorted(sq, key=lambda e: e[1])
            ref = t if t is not None else (sq[-1][1] if sq else 0.0)
            seqs.append(self.vocab.ids([c for c, _ in sq]))
            ages.append([max(ref - float(ts), 0.0) for _, ts in sq])
            cands.append(self.vocab.ids(list(cd)))
        s, a, c = _batch_tensors(seqs, ages, cands, self.cfg.max_len)
        with torch.no_grad():
            out = self.net(s, a, c).numpy().astype(np.float32)
        return [out[b, : len(cands[b])] for b in range(len(cands))]

    def save(self, d: Path, extra: dict[str, Any] | None = None) -> None:
        d.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), d / "model.pt")
        (d / "config.json").write_text(
            json.dumps({"model": "seqrec-transformer", "config": self.cfg.to_dict(), **(extra or {})}, indent=1) + "\n"
        )
        (d / "vocab.json").write_text(
            json.dumps({"codes": self.vocab.codes, "item_tokens": self.vocab.item_tokens, "tokens": self.vocab.tokens})
            + "\n"
        )

    @classmethod
    def load(cls, d: Path) -> SeqRecModel:
        cfg = SeqConfig(**json.loads((d / "config.json").read_text())["config"])
        v = json.loads((d / "vocab.json").read_text())
        vocab = Vocab(v["codes"], v["item_tokens"], v["tokens"])
        net = SeqRec(len(vocab.codes), len(vocab.tokens), vocab.token_matrix(cfg.max_tokens), cfg)
        net.load_state_dict(torch.load(d / "model.pt", map_location="cpu", weights_only=True))
        return cls(net, vocab, cfg)


# ---------------------------------------------------------------- training


@dataclass
class Sample:
    seq: list[int]  # vocab ids, time order
    age: list[float]  # days before the cut
    cands: list[int]  # vocab ids
    labels: list[float]  # 1 = bought in the window after the cut
    base: list[float] | None = None  # the light ranker's scores (residual phase)


def user_events(inter: Interactions) -> dict[int, list[tuple[float, list[int]]]]:
    return invoices_by_user(inter)


def _flatten(invoices: Sequence[tuple[float, list[int]]], cut: float, max_len: int) -> tuple[list[int], list[float]]:
    seq: list[int] = []
    ts: list[float] = []
    for t, items in invoices:
        if t >= cut:
            break
        for i in items:
            seq.append(i)
            ts.append(t)
    return seq[-max_len:], [cut - t for t in ts[-max_len:]]


def make_samples(inter: Interactions, until: float, cfg: SeqConfig, vocab: Vocab) -> list[Sample]:
    """Cut-based samples: for up to ``cuts_per_user`` invoice times per user with a full label window before
    ``until``: the sequence before the cut; candidates = the user's recent history + the window's purchases + random
    sold items; labels = bought in [cut, cut + window)."""
    rng = np.random.default_rng(cfg.seed)
    inter = inter.before(until)
    cat_ids = np.asarray(vocab.ids(inter.catalogue.codes))  # item index -> vocab id
    sold = np.unique(inter.item)
    events = user_events(inter)
    out: list[Sample] = []
    for u in sorted(events):
        inv = events[u]
        cut_times = [t for t, _ in inv[1:] if t + cfg.window_days <= until]
        if not cut_times:
            continue
        picks = rng.choice(len(cut_times), size=min(cfg.cuts_per_user, len(cut_times)), replace=False)
        for p in sorted(picks.tolist()):
            cut = cut_times[p]
            seq, age = _flatten(inv, cut, cfg.max_len)
            pos = {i for t, items in inv if cut <= t < cut + cfg.window_days for i in items}
            hist: list[int] = []
            for i in reversed(seq):
                if i not in hist:
                    hist.append(i)
                if len(hist) >= cfg.history_negatives:
                    break
            rnd = rng.choice(sold, size=min(cfg.random_negatives, sold.size), replace=False).tolist()
            cands = list(dict.fromkeys(hist + sorted(pos) + rnd))
            out.append(
                Sample(cat_ids[seq].tolist(), age, cat_ids[cands].tolist(), [1.0 if i in pos else 0.0 for i in cands])
            )
    return [s for s in out if sum(s.labels) > 0]


def ranked_samples(inter: Interactions, lists: Sequence[RankedList], cfg: SeqConfig, vocab: Vocab) -> list[Sample]:
    """Serving-like samples: the light ranker's top ``extra_candidates`` with its scores as the residual base."""
    cat_ids = np.asarray(vocab.ids(inter.catalogue.codes))
    events = user_events(inter)
    n = cfg.extra_candidates
    out = []
    for u, cut, items, labels, base in lists:
        seq, age = _flatten(events.get(u, []), cut, cfg.max_len)
        out.append(
            Sample(
                cat_ids[seq].tolist(),
                age,
                cat_ids[np.asarray(items[:n], int)].tolist(),
                [float(v) for v in labels[:n]],
                [float(v) for v in base[:n]],
            )
        )
    return [s for s in out if sum(s.labels) > 0]


def _fit(
    net: SeqRec,
    samples: Sequence[Sample],
    epochs: int,
    lr: float,
    cfg: SeqConfig,
    rng: np.random.Generator,
    name: str,
    progress: Callable[[str], None] | None,
    params: Sequence[nn.Parameter] | None = None,
) -> None:
    if not samples or epochs <= 0:
        return
    opt = torch.optim.AdamW(list(params) if params is not None else net.parameters(), lr=lr, weight_decay=1e-4)
    n_batches = math.ceil(len(samples) / cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(epochs * n_batches, 1))
    for ep in range(epochs):
        net.train()
        order = rng.permutation(len(samples))
        total = 0.0
        for b in range(n_batches):
            batch = [samples[i] for i in order[b * cfg.batch : (b + 1) * cfg.batch]]
            s, a, c = _batch_tensors(
                [x.seq for x in batch], [x.age for x in batch], [x.cands for x in batch], cfg.max_len
            )
            y = torch.zeros(c.shape)
            base = torch.zeros(c.shape)
            mask = torch.zeros(c.shape, dtype=torch.bool)
            for k, x in enumerate(batch):
                y[k, : len(x.labels)] = torch.as_tensor(x.labels)
                mask[k, : len(x.labels)] = True
                if x.base is not None:
                    base[k, : len(x.base)] = torch.as_tensor(x.base)
            loss = listwise_loss(net(s, a, c) + base, y, mask)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            total += float(loss.detach())
        if progress:
            progress(
                f"heavy {name} epoch {ep + 1}/{epochs}: loss {total / max(n_batches, 1):.4f} ({len(samples)} lists)"
            )
    net.eval()


def train(
    inter: Interactions,
    until: float,
    cfg: SeqConfig = SeqConfig(),
    ranked: Sequence[RankedList] = (),
    progress: Callable[[str], None] | None = None,
) -> SeqRecModel:
    """Two phases on data before ``until``: (1) next-window purchases from the sequence alone, over cut-based
    samples; (2) residual fine-tuning on the light ranker's lists: the loss sees light score + heavy score, so the
    heavy score learns what the light ranker misses (the cascade adds them)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    inter = inter.before(until)
    vocab = Vocab.from_catalogue(inter.catalogue, cfg.max_tokens)
    net = SeqRec(len(vocab.codes), len(vocab.tokens), vocab.token_matrix(cfg.max_tokens), cfg)
    _fit(net, make_samples(inter, until, cfg, vocab), cfg.epochs, cfg.lr, cfg, rng, "sequence", progress)
    with torch.no_grad():
        net.out_scale.fill_(0.1)  # start the residual near "light alone"
    # residual phase: only the scoring head learns (the embeddings and encoder overfit the few ranked lists)
    head = [*net.head.parameters(), *net.q.parameters(), net.out_scale]
    _fit(
        net,
        ranked_samples(inter, ranked, cfg, vocab),
        cfg.residual_epochs,
        cfg.residual_lr,
        cfg,
        rng,
        "residual",
        progress,
        head,
    )
    return SeqRecModel(net, vocab, cfg)


def heavy_scores_for(
    model: SeqRecModel, inter_before: Interactions, now: float
) -> Callable[[int, np.ndarray], np.ndarray]:
    """user, candidate item indices -> heavy scores, from the user's purchase sequence before ``now``."""
    events = user_events(inter_before.before(now))
    ids = np.asarray(model.vocab.ids(inter_before.catalogue.codes))

    def f(user: int, cand: np.ndarray) -> np.ndarray:
        seq, age = _flatten(events.get(user, []), now, model.cfg.max_len)
        s, a, c = _batch_tensors([ids[seq].tolist()], [age], [ids[cand].tolist()], model.cfg.max_len)
        with torch.no_grad():
            return model.net(s, a, c).numpy()[0, : cand.size]

    return f
