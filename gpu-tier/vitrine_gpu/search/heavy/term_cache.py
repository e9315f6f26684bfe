"""Product term-representation cache for the PreTTR-style heavy model (``vitrine_gpu.search.heavy.model.CrossEncoder``).

The product side of the heavy model's trunk does not depend on the query, so the trunk's token states of a product
text can be computed once and reused by every query that ranks the product: a request then runs the query trunk once
plus the joint layers. Entries are keyed by ``(model version, product id, text hash)`` — a new model version or a
changed product text never reads an old entry — and hold the product's unpadded token states ``[T, H]`` in the
cache's storage dtype (float16 by default: half the bytes, score difference ≪ the ranking tolerance).

Memory is bounded in bytes (tensor payload): inserting past ``max_bytes`` evicts least-recently-used entries first.
Thread-safe (the inference thread and the catalogue precompute thread share it). Importing this module does not
import torch (the server imports it before any model is loaded).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import torch


# The edge clips each product field before sending it (edge/search/cascade.ts DOC_LIMITS, CONTRACTS.md C5): the
# catalogue precompute and the bench clip the same way, so their text hashes match what the edge sends.
EDGE_DOC_LIMITS = {"title": 300, "brand": 100, "color": 100, "bullets": 1000, "description": 1000}


def edge_doc(fields: dict[str, str]) -> dict[str, str]:
    """A catalogue row as the edge's toHeavyDoc sends it: fields clipped to EDGE_DOC_LIMITS, empty ones left out."""
    doc = {"id": str(fields.get("id", "")), "title": (fields.get("title") or "")[: EDGE_DOC_LIMITS["title"]]}
    for f in ("brand", "color", "bullets", "description"):
        v = (fields.get(f) or "")[: EDGE_DOC_LIMITS[f]]
        if v:
            doc[f] = v
    return doc


class TermKey(NamedTuple):
    version: str
    product_id: str
    text_hash: str


def text_hash(text: str) -> str:
    """A short stable digest of a formatted product text (part of the cache key)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int
    max_bytes: int
    hits: int
    misses: int
    evictions: int

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class TermCache:
    """LRU cache of product token states, bounded by tensor bytes."""

    def __init__(self, max_bytes: int, dtype: str = "float16") -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        if dtype not in ("float16", "bfloat16", "float32"):
            raise ValueError(f"dtype must be float16, bfloat16 or float32, got {dtype!r}")
        self.max_bytes = int(max_bytes)
        self.dtype_name = dtype
        self._entries: OrderedDict[TermKey, torch.Tensor] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.progress: dict[str, PrecomputeProgress] = {}  # catalogue precompute per model version
        self.stopping = threading.Event()  # set by close(): precompute threads end after their current chunk
        self._threads: list[threading.Thread] = []

    def track(self, thread: threading.Thread) -> None:
        """A precompute thread filling this cache (``close`` stops and joins it)."""
        self._threads.append(thread)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the precompute threads (after their current chunk) and wait for them."""
        self.stopping.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @staticmethod
    def key(version: str, product_id: str, text: str) -> TermKey:
        return TermKey(version, product_id, text_hash(text))

    def get_many(self, keys: list[TermKey]) -> list[torch.Tensor | None]:
        """Entries for ``keys`` (None where absent), counted as hits/misses and marked recently used."""
        out: list[torch.Tensor | None] = []
        with self._lock:
            for k in keys:
                t = self._entries.get(k)
                if t is None:
                    self.misses += 1
                else:
                    self.hits += 1
                    self._entries.move_to_end(k)
                out.append(t)
        return out

    def contains(self, key: TermKey) -> bool:
        """Presence test that does not count as a hit or miss nor touch the LRU order (the precompute uses it)."""
        with self._lock:
            return key in self._entries

    def put_many(self, items: Iterable[tuple[TermKey, torch.Tensor]]) -> None:
        """Store ``[T, H]`` states (converted to the storage dtype by the caller); entries larger than the whole
        budget are skipped; LRU entries are evicted until the payload fits ``max_bytes``."""
        if not self.enabled:
            return
        with self._lock:
            for k, t in items:
                size = t.element_size() * t.nelement()
                if size > self.max_bytes:
                    continue
                old = self._entries.pop(k, None)
                if old is not None:
                    self._bytes -= old.element_size() * old.nelement()
                self._entries[k] = t
                self._bytes += size
                while self._bytes > self.max_bytes and self._entries:
                    _, victim = self._entries.popitem(last=False)
                    self._bytes -= victim.element_size() * victim.nelement()
                    self.evictions += 1

    def drop_version(self, version: str) -> int:
        """Remove every entry of a model version (e.g. when the version is unloaded); returns how many."""
        with self._lock:
            stale = [k for k in self._entries if k.version == version]
            for k in stale:
                t = self._entries.pop(k)
                self._bytes -= t.element_size() * t.nelement()
            return len(stale)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(len(self._entries), self._bytes, self.max_bytes, self.hits, self.misses, self.evictions)


@dataclass
class PrecomputeProgress:
    """State of a catalogue precompute (read by /metrics and the log)."""

    version: str
    total: int
    done: int = 0
    seconds: float = 0.0
    finished: bool = False
    budget_full: bool = False  # stopped because the next chunk would not fit the cache's budget
    error: str | None = None


__all__ = ["EDGE_DOC_LIMITS", "edge_doc", "CacheStats", "PrecomputeProgress", "TermCache", "TermKey", "text_hash"]
