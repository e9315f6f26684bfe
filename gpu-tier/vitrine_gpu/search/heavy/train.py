"""Fine-tuning the heavy cross-encoder on judged query pools (listwise softmax cross-entropy, ESCI gains).

Entry points (the pipeline CLI calls these):
- ``train_heavy(train_query_ids: list[str] | None, config: HeavyConfig) -> Path``: trains on the judged pools of
  those queries (None = all) and writes a model directory (``save_heavy`` layout); returns it.
- ``pipeline_step(reduced: bool, force: bool) -> dict``: trains on all queries and registers the model
  (``registry.register("heavy", ...)``); returns {"version", ...}.
- ``fit_pools(pools, config, base=None, cache=None) -> CrossEncoder``: the training loop over in-memory pools,
  used by evaluate.py's cross-validation with a shared trunk cache.

On CPU the MiniLM trunk is frozen (config.freeze_trunk): its token states depend only on the query or only on the
product text, so they are computed once per text (``TrunkCache``) and every epoch only runs the joint cross layers
and the head. That is what makes 5-fold CV + final training fit a 2-core CPU budget; the served model still runs the
whole network on raw text. On CUDA (``HeavyConfig.auto``) the whole network is fine-tuned end to end (trunk at a
small learning rate, bf16 autocast) on raw text, with no trunk cache: every pass runs the full forward.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from ... import paths, registry
from ..light.train import LightData
from ..pretrained import read_provenance
from .model import (
    BACKBONES,
    BGE_SMALL,
    MINILM,
    NUM_CROSS_LAYERS,
    CrossEncoder,
    HeavyArch,
    build_heavy,
    encode_texts,
    format_document,
    forward_texts,
    save_heavy,
)


@dataclass(frozen=True)
class HeavyConfig:
    backbone: str = MINILM  # a key of heavy.model.BACKBONES
    num_layers: int = 6
    num_cross_layers: int = NUM_CROSS_LAYERS
    max_query_tokens: int = 16
    max_doc_tokens: int = 64
    epochs: int = 2
    lr: float = 1e-4  # joint (cross-attention) layers
    head_lr: float = 2e-3  # score head (zero-initialised MLP, cosine scale/bias, segment embedding)
    weight_decay: float = 0.01
    queries_per_step: int = 4
    max_list: int = 24  # products sampled per query pool per step (pools hold ~45; resampled every epoch)
    warmup_frac: float = 0.1
    freeze_trunk: bool = True
    trunk_lr: float = 2e-5  # MiniLM trunk, only when freeze_trunk is False
    seed: int = 0
    threads: int = 2
    trunk_batch: int = 64
    device: str = "cpu"

    def build(self) -> tuple[CrossEncoder, PreTrainedTokenizerBase, HeavyArch]:
        """A fresh model of this architecture: the backbone's pretrained trunk, joint layers seeded with ``seed``."""
        return build_heavy(
            self.num_layers,
            self.num_cross_layers,
            self.max_query_tokens,
            self.max_doc_tokens,
            seed=self.seed,
            backbone=self.backbone,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def reduced(cls) -> HeavyConfig:
        """CI config: the all-MiniLM-L6-v2 trunk (the small/fast option), 1 epoch over 16-product samples of each
        pool."""
        return cls(epochs=1, max_list=16)

    @classmethod
    def for_backbone(cls, backbone: str, **kw: Any) -> HeavyConfig:
        """Trunk depth and token budgets per backbone: MiniLM 6 layers, 16/64 query/product tokens; bge-small its
        12 layers, 32/64 (its query prefix takes ~11 of the 32; 64 product tokens: 96 costs 1.5x the CPU time of
        the trunk encoding, too much for the 2-core budget of the CV)."""
        if backbone not in BACKBONES:
            raise ValueError(f"unknown heavy backbone {backbone!r}: one of {sorted(BACKBONES)}")
        if backbone == BGE_SMALL:
            kw = {"num_layers": 12, "max_query_tokens": 32, "max_doc_tokens": 64, **kw}
            return cls(backbone=backbone, **kw)
        return cls(backbone=backbone, **kw)

    @classmethod
    def auto(cls, reduced: bool = False, backbone: str | None = None) -> HeavyConfig:
        """The configuration for the machine and size: ``reduced`` (CI) and the synthetic catalogue keep
        all-MiniLM-L6-v2 (the small/fast option); the full configuration on the ESCI data uses the cross-validation
        winner, bge-small-en-v1.5 PreTTR (override with ``backbone`` or the env var VITRINE_HEAVY_BACKBONE). On CUDA
        the whole cross-encoder is fine-tuned (trunk unfrozen, whole pools, more epochs); on CPU the frozen-trunk
        PreTTR training."""
        default = MINILM if reduced or paths.esci_dir() is None else BGE_SMALL
        bb = backbone or os.environ.get("VITRINE_HEAVY_BACKBONE") or default
        if torch.cuda.is_available():
            return cls.for_backbone(
                bb,
                freeze_trunk=False,
                device="cuda",
                epochs=1 if reduced else 4,
                max_list=16 if reduced else 64,
                lr=5e-5,
                queries_per_step=8,
            )
        if reduced and bb == MINILM:
            return cls.reduced()
        return cls.for_backbone(bb, epochs=1, max_list=16) if reduced else cls.for_backbone(bb)


@dataclass
class TextPool:
    """One judged pool: a query and its products (already formatted text) with ESCI gains."""

    qid: str
    query: str
    docs: list[str]
    gains: list[float]


def pools_from_light_data(data: Any) -> dict[str, TextPool]:
    """TextPools from the light trainer's LightData (candidate rows carry title/brand/color/bullets/description)."""
    return {
        qid: TextPool(qid, l.query, [format_document(r) for r in l.rows], [float(g) for g in l.gains])
        for qid, l in data.lists.items()
    }


class TrunkCache:
    """Frozen-trunk token states per distinct text (fp16 on CPU, trimmed to the text's length)."""

    def __init__(
        self, model: CrossEncoder, tokenizer: Any, max_query_tokens: int, max_doc_tokens: int, batch: int = 64
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_q, self.max_d, self.batch = max_query_tokens, max_doc_tokens, batch
        self.q: dict[str, torch.Tensor] = {}
        self.d: dict[str, torch.Tensor] = {}
        self.seconds = 0.0
        self.texts_encoded = 0

    @torch.inference_mode()
    def _encode(self, texts: list[str], max_tokens: int, store: dict[str, torch.Tensor], prefix: str = "") -> None:
        todo = sorted({t for t in texts if t not in store}, key=len)
        t0 = time.perf_counter()
        self.model.eval()
        for i in range(0, len(todo), self.batch):
            chunk = todo[i : i + self.batch]
            ids, mask = encode_texts(self.tokenizer, [prefix + t for t in chunk], max_tokens)
            states = self.model.trunk(ids, mask)
            lens = mask.sum(1).tolist()
            for t, s, n in zip(chunk, states, lens):
                store[t] = s[: int(n)].to(torch.float16).clone()
        self.seconds += time.perf_counter() - t0
        self.texts_encoded += len(todo)

    def add_pools(self, pools: Sequence[TextPool]) -> None:
        self._encode([p.query for p in pools], self.max_q, self.q, self.model.query_prefix)
        self._encode([d for p in pools for d in p.docs], self.max_d, self.d)

    def key(self) -> str:
        """Identifies the trunk (weights) and the token budgets: a saved cache is only reused for the same ones."""
        prefix = self.model.query_prefix
        h = hashlib.sha256((f"{self.max_q}/{self.max_d}" + (f"/{prefix}" if prefix else "")).encode())
        for name, t in sorted(self.model.encoder.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().float().sum().item().hex().encode())
            h.update(str(tuple(t.shape)).encode())
        return h.hexdigest()[:16]

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        p = directory / f"trunk-{self.key()}.pt"
        tmp = p.with_suffix(".tmp")
        torch.save({"q": self.q, "d": self.d}, tmp)
        tmp.replace(p)
        return p

    def load(self, directory: Path) -> bool:
        p = directory / f"trunk-{self.key()}.pt"
        if not p.exists():
            return False
        obj = torch.load(p, weights_only=True)
        self.q.update(obj["q"])
        self.d.update(obj["d"])
        return True

    @staticmethod
    def _pad(states: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        n, h = len(states), states[0].shape[-1]
        length = max(s.shape[0] for s in states)
        out = torch.zeros(n, length, h, dtype=torch.float32)
        mask = torch.zeros(n, length, dtype=torch.long)
        for i, s in enumerate(states):
            out[i, : s.shape[0]] = s.float()
            mask[i, : s.shape[0]] = 1
        return out, mask

    def batch_states(self, query: str, docs: Sequence[str]) -> tuple[torch.Tensor, ...]:
        qs, qm = self._pad([self.q[query]])
        ds, dm = self._pad([self.d[d] for d in docs])
        n = len(docs)
        return qs.expand(n, -1, -1), qm.expand(n, -1), ds, dm


def trunk_cache_dir() -> Path:
    return Path(paths.STATE) / "cache" / "heavy-trunk"


def shared_trunk_cache(
    model: CrossEncoder, tokenizer: Any, config: HeavyConfig, pools: Sequence[TextPool]
) -> TrunkCache:
    """A TrunkCache covering ``pools``, loaded from / saved to .vitrine/cache/heavy-trunk (keyed by trunk weights
    and token budgets) so that evaluate and train-heavy encode each text once."""
    cache = TrunkCache(model, tokenizer, config.max_query_tokens, config.max_doc_tokens, config.trunk_batch)
    loaded = cache.load(trunk_cache_dir())
    before = cache.texts_encoded
    cache.add_pools(pools)
    if cache.texts_encoded > before or not loaded:
        cache.save(trunk_cache_dir())
    return cache


def _trainable(model: CrossEncoder, config: HeavyConfig) -> list[nn.Parameter]:
    for p in model.encoder.parameters():
        p.requires_grad_(not config.freeze_trunk)
    return [p for p in model.parameters() if p.requires_grad]


def listwise_loss(scores: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy of the pool's scores against the gain distribution (ListNet with ESCI gains)."""
    target = gains / gains.sum()
    return -(target * torch.log_softmax(scores, dim=0)).sum()


def _forward_texts(
    model: CrossEncoder, tokenizer: Any, query: str, docs: Sequence[str], config: HeavyConfig
) -> torch.Tensor:
    """Full forward of one query against ``docs`` (the served model's ``forward_texts``), with gradients."""
    return forward_texts(
        model, tokenizer, [query], list(docs), [0] * len(docs), config.max_query_tokens, config.max_doc_tokens
    )


def score_pool(
    model: CrossEncoder,
    cache: TrunkCache | None,
    pool: TextPool,
    batch: int = 128,
    tokenizer: Any = None,
    config: HeavyConfig | None = None,
) -> list[float]:
    """Scores of a pool: through the cached trunk when ``cache`` is given (identical to the full forward when the
    trunk is frozen), else the full forward on raw text (needs ``tokenizer``; token budgets from ``config``)."""
    model.eval()
    out: list[float] = []
    with torch.inference_mode():
        for i in range(0, len(pool.docs), batch):
            if cache is not None:
                qs, qm, ds, dm = cache.batch_states(pool.query, pool.docs[i : i + batch])
                out += model.interact(qs, qm, ds, dm).tolist()
            else:
                out += (
                    _forward_texts(model, tokenizer, pool.query, pool.docs[i : i + batch], config or HeavyConfig())
                    .cpu()
                    .tolist()
                )
    return out


def fit_pools(
    pools: Sequence[TextPool],
    config: HeavyConfig,
    base: CrossEncoder,
    cache: TrunkCache | None,
    log: Any = None,
    tokenizer: Any = None,
) -> CrossEncoder:
    """Fine-tune a copy of ``base`` on ``pools`` (listwise loss, AdamW, linear warm-up + cosine decay).

    Frozen trunk (``config.freeze_trunk``): runs the joint layers + head on ``cache``'s trunk states. Unfrozen:
    ``cache`` is None and every step runs the full forward on raw text (``tokenizer``) on ``config.device``, the
    trunk at ``config.trunk_lr``."""
    if config.freeze_trunk == (cache is None):
        raise ValueError("a frozen trunk trains from a TrunkCache; an unfrozen one from raw text (cache=None)")
    if not config.freeze_trunk and tokenizer is None:
        raise ValueError("the unfrozen-trunk loop needs the tokenizer")
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    model = copy.deepcopy(base).to(config.device)
    params = _trainable(model, config)
    train = [p for p in pools if len(p.docs) > 1 and sum(p.gains) > 0]
    if not train:
        raise ValueError("no trainable pools (need ≥2 products and a positive gain)")
    if cache is not None:
        cache.add_pools(train)
    steps_per_epoch = math.ceil(len(train) / config.queries_per_step)
    total = steps_per_epoch * config.epochs
    warm = max(1, int(total * config.warmup_frac))
    head_ids = {id(p) for m in (model.mlp, model.segment) for p in m.parameters()} | {
        id(model.cos_scale),
        id(model.bias),
    }
    trunk_ids = {id(p) for p in model.encoder.parameters()}
    groups = [
        {"params": [p for p in params if id(p) in head_ids], "lr": config.head_lr},
        {"params": [p for p in params if id(p) not in head_ids and id(p) not in trunk_ids], "lr": config.lr},
        {"params": [p for p in params if id(p) in trunk_ids], "lr": config.trunk_lr},
    ]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, total))))
    )
    step = 0
    for epoch in range(config.epochs):
        order = list(range(len(train)))
        rng.shuffle(order)
        model.train()
        if config.freeze_trunk:
            model.encoder.eval()
        ep_loss, t0 = 0.0, time.perf_counter()
        for s in range(0, len(order), config.queries_per_step):
            opt.zero_grad()
            loss_sum = torch.zeros((), device=config.device)
            for qi in order[s : s + config.queries_per_step]:
                p = train[qi]
                idx = list(range(len(p.docs)))
                if len(idx) > config.max_list:
                    idx = rng.sample(idx, config.max_list)
                g = torch.tensor([p.gains[i] for i in idx], dtype=torch.float32, device=config.device)
                if g.sum() <= 0:
                    continue
                docs = [p.docs[i] for i in idx]
                if cache is not None:
                    scores = model.interact(*cache.batch_states(p.query, docs))
                else:
                    scores = _forward_texts(model, tokenizer, p.query, docs, config)
                loss_sum = loss_sum + listwise_loss(scores, g)
            (loss_sum / config.queries_per_step).backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            ep_loss += float(loss_sum.detach())
        if log:
            log(
                f"heavy epoch {epoch + 1}/{config.epochs}: loss {ep_loss / len(train):.4f} "
                f"({time.perf_counter() - t0:.1f}s)"
            )
    return model.eval()


def load_pools() -> tuple[dict[str, TextPool], dict[str, Any]]:
    """Judged pools of the prepared catalogue (via the light trainer's LightData: candidates.sql rows + gains)."""
    data = LightData.load()
    return pools_from_light_data(data), dict(data.source)


def _log(msg: str) -> None:
    print(f"[heavy] {msg}", flush=True)


def train_heavy(
    train_query_ids: Sequence[str] | None = None,
    config: HeavyConfig | None = None,
    out_dir: Path | None = None,
    pools: Mapping[str, TextPool] | None = None,
    manifest_extra: Mapping[str, Any] | None = None,
) -> Path:
    """Train on the judged pools of ``train_query_ids`` (None = all) and write a model directory; return it."""
    config = config or HeavyConfig.auto()
    torch.set_num_threads(config.threads)
    if pools is None:
        pools, _ = load_pools()
    qids = list(pools) if train_query_ids is None else [q for q in train_query_ids if q in pools]
    base, tokenizer, arch = config.build()
    t0 = time.perf_counter()
    chosen = [pools[q] for q in qids]
    t1 = time.perf_counter()
    if config.epochs == 0:  # zero-shot: the untrained model ranks by the backbone's embedding cosine
        model = base.eval()
    else:
        cache = shared_trunk_cache(base, tokenizer, config, chosen) if config.freeze_trunk else None
        if cache is not None:
            _log(f"trunk cache: {cache.texts_encoded} texts in {cache.seconds:.1f}s")
        t1 = time.perf_counter()
        model = fit_pools(chosen, config, base, cache, log=_log, tokenizer=tokenizer)
    train_s = time.perf_counter() - t1
    pairs = sum(len(p.docs) for p in chosen)
    extra = {
        "config": config.to_dict(),
        "train_queries": len(chosen),
        "train_pairs": pairs,
        "train_seconds": round(time.perf_counter() - t0, 1),
        "cross_train_seconds": round(train_s, 1),
        "loss": "listwise softmax cross-entropy against ESCI gains (E=1, S=0.1, C=0.01, I=0)",
        "zero_shot": config.epochs == 0,
        "cpu_int8": False,
        **dict(manifest_extra or {}),
    }
    out = Path(out_dir) if out_dir else Path(paths.STATE) / "tmp" / f"heavy-{int(time.time())}"
    return save_heavy(model, tokenizer, out, extra, arch)


def _code_hash() -> str:
    h = hashlib.sha256()
    for p in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def pipeline_step(reduced: bool = False, force: bool = False) -> dict[str, Any]:
    """Train the heavy model on all judged queries and register it; returns {"version", ...}."""
    config = HeavyConfig.auto(reduced)
    pools, source = load_pools()
    d = train_heavy(None, config, pools=pools)
    return register_trained(d, reduced, source)


def register_trained(d: Path, reduced: bool, source: Mapping[str, Any]) -> dict[str, Any]:
    """Register a model directory written by ``train_heavy`` with the cross-validation summary (read now, so a CV
    that finished during training is included), the backbone's weights source and provenance."""
    metrics: dict[str, Any] = {}
    report = Path(paths.STATE) / "reports" / ("evaluation-reduced.json" if reduced else "evaluation.json")
    if report.exists():
        try:
            metrics = json.loads(report.read_text()).get("summary", {})
        except (OSError, ValueError):
            metrics = {}
    cfg = json.loads((d / "heavy_config.json").read_text())
    backbone = str(cfg.get("backbone", MINILM))
    weights: dict[str, Any] = dict(BACKBONES[backbone].weights_source)
    if backbone == BGE_SMALL:
        weights["provenance"] = read_provenance(BGE_SMALL)
    extra = {
        "backbone": weights["backbone"],
        "max_tokens": cfg["max_tokens"],
        "max_query_tokens": cfg["max_query_tokens"],
        "max_doc_tokens": cfg["max_doc_tokens"],
        "num_layers": cfg["num_layers"],
        "num_cross_layers": cfg["num_cross_layers"],
        "weights": weights,
        "training": cfg["extra"],
        "reduced": reduced,
        "metrics": metrics,
        "data_hash": str(source.get("sha256", "")),
        "code_hash": _code_hash(),
    }
    version = registry.register("heavy", d, extra)
    _log(f"registered {version}")
    return {"version": version, "train_seconds": cfg["extra"].get("train_seconds")}
