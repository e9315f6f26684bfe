"""The MF source's precomputed top-N lists (issue 23: recommendations at 10^6 items), written to D1 `recs_mf_top`.

The edge no longer holds a version's item matrix: for a user the version knows it reads that user's list, for an item
page / cart (or a user it does not know) the seed items' lists (edge/recs/ann/d1-lists.ts). A list is the N sold items
with the largest dot product with the user's (item's) vector — exactly the first N of the scan the edge used to run
(`sources.embedding`: the sold items of ``tables.json``'s ``item_vectors``, float32 vectors, float64 accumulation,
ties in catalogue order). Computed as batched matrix products + ``torch.topk`` over blocks of queries, never a loop
over rows, so 10^6 items × 10^6 queries runs in bounded memory (``block_elems`` scores at a time).

N (``MF_TOP_N`` = 200, at least the version's ``per_source``): the MF source proposes ``per_source`` (150) items, so a
known user's and one page item's lists are the scan's exact top; a cart sums its items' lists (Σ weight × score,
what the scan of the weighted mean vector gives for every item on all the lists), and the 50 more per list are what
keeps the cart's sum close to the scan's order further down.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

MF_TOP_N = 200
SCORE_DECIMALS = 6
# scores computed at once (queries × items, float64): 2^26 = 512 MiB
BLOCK_ELEMS = 1 << 26


def top_n(
    queries: np.ndarray, items: np.ndarray, n: int, block_elems: int = BLOCK_ELEMS
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """For each block of query rows: (first row, item indices [b, n], scores [b, n] float32), best first, ties by the
    lower item index (numpy's stable argsort over the scan's scores)."""
    n = min(n, items.shape[0])
    if n == 0 or queries.shape[0] == 0:
        return
    x = torch.from_numpy(np.ascontiguousarray(items, dtype=np.float32)).to(torch.float64)
    rows = max(1, block_elems // max(items.shape[0], 1))
    for start in range(0, queries.shape[0], rows):
        q = torch.from_numpy(np.ascontiguousarray(queries[start : start + rows], dtype=np.float32)).to(torch.float64)
        scores = (q @ x.T).to(torch.float32)  # the edge's float64 dot products, stored as float32
        vals, idx = torch.topk(scores, n, dim=1, largest=True, sorted=True)
        v, i = vals.numpy(), idx.numpy().astype(np.int64)
        order = np.lexsort((i, -v), axis=1)  # equal scores: catalogue order, as the scan's stable sort
        yield start, np.take_along_axis(i, order, 1), np.take_along_axis(v, order, 1)


def mf_top_rows(tables: Mapping[str, Any], n: int = MF_TOP_N) -> Iterator[tuple[str, str, str, str]]:
    """``tables.json`` → (kind, key, items JSON, scores JSON) for every user and every sold item with a vector."""
    vectors: Mapping[str, Sequence[float]] = tables.get("item_vectors") or {}
    if not vectors:
        return  # live / vector-less tables: no MF source
    codes = sorted(vectors)  # catalogue order (StockCode order, as the edge's tables)
    items = np.asarray([vectors[c] for c in codes], np.float32)
    n = max(n, int(tables.get("config", {}).get("per_source", 0)))
    names = np.asarray(codes, dtype=object)
    users: Mapping[str, Sequence[float]] = tables.get("user_vectors") or {}
    for kind, keys, q in (
        ("user", list(users), np.asarray([users[u] for u in users], np.float32).reshape(-1, items.shape[1])),
        ("item", codes, items),
    ):
        for start, idx, vals in top_n(q, items, n):
            ids = names[idx]
            rounded = np.round(vals.astype(np.float64), SCORE_DECIMALS)
            for r in range(idx.shape[0]):
                yield (
                    kind,
                    keys[start + r],
                    json.dumps(ids[r].tolist(), separators=(",", ":")),
                    json.dumps(rounded[r].tolist(), separators=(",", ":")),
                )


def _fnv1a(s: str, seed: int) -> str:
    """FNV-1a (32 bit) over UTF-16 code units, hex (edge/recs/ann/vectorize.ts fnv1a)."""
    h = seed
    units = s.encode("utf-16-le")
    for i in range(0, len(units), 2):
        h ^= units[i] | (units[i + 1] << 8)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


def vectorize_namespace(store: str, version: str) -> str:
    """A store version's Vectorize namespace (edge/recs/ann/vectorize.ts vectorizeNamespace): 16 hex digits."""
    key = f"{store}\u0000{version}"
    return _fnv1a(key, 0x811C9DC5) + _fnv1a(key, 0x01000193)


def vectorize_ndjson(tables: Mapping[str, Any], store: str, version: str) -> Iterator[str]:
    """The version's sold items as Vectorize vectors, one JSON line each (``wrangler vectorize insert INDEX --file``):
    id ``<namespace>:<item id>``, the version's namespace, the MF item vector (the index: metric dot-product,
    dimensions = the version's factors)."""
    ns = vectorize_namespace(store, version)
    for code, vec in sorted((tables.get("item_vectors") or {}).items()):
        yield json.dumps({"id": f"{ns}:{code}", "namespace": ns, "values": vec}, separators=(",", ":"))
