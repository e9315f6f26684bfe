"""Light-model features (CONTRACTS.md C2). edge/search/features.ts implements exactly the same; keep them in step.

Rows are dicts with the columns of edge/search/retrieve.sql / candidates.sql (bm25* already negated: higher is
better; candidates the query does not match have bm25* = 0). Every value is computed in float64 in a fixed order
and cast to float32 at the end, so the TypeScript port agrees to ~1e-7. The edge reads product tokens from the
columns the catalog build precomputes (``token_columns``); this reference tokenises the raw text.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MAX_QUERY_TOKENS = 32

FEATURE_NAMES: tuple[str, ...] = (
    "bm25",  # combined FTS5 bm25 (title 4, brand 2, colour 1, bullets 1, description 0.5)
    "bm25_title",
    "bm25_brand",
    "bm25_color",
    "bm25_bullets",
    "bm25_description",
    "bm25_norm_max",  # bm25 / max bm25 in the candidate list (0 when max <= 0)
    "bm25_rank_recip",  # 1 / (1 + number of candidates with a strictly higher bm25)
    "bm25_title_norm_max",  # bm25_title / max bm25_title in the list
    "query_tokens",  # number of unique query tokens (max 32)
    "cov_title",  # share of unique query tokens found in the title
    "cov_brand",
    "cov_color",
    "cov_text",  # ... in bullets + description
    "cov_category",
    "cov_any",  # ... in any of the fields above
    "title_precision",  # share of unique title tokens that are query tokens
    "phrase_in_title",  # the normalised query is a contiguous token run of the title
    "first_token_in_title",
    "brand_in_query",  # all brand tokens occur in the query (non-empty brand)
    "color_in_query",  # all colour tokens occur in the query (non-empty colour)
    "log_price",  # log1p(price), 0 when missing
    "price_missing",
    "log_price_rel",  # log_price - mean log_price of the priced candidates (0 when missing)
    "rating",  # 0 when missing
    "rating_missing",
    "log_rating_count",  # log1p(rating_count), 0 when missing
    "rating_count_missing",
    "log_rating_count_rel",  # minus the mean over candidates that have one (0 when missing)
    "log_title_len",  # log1p(title tokens)
    "log_bullets_len",
    "log_description_len",
    "is_book",
)
NUM_FEATURES = len(FEATURE_NAMES)

_TOKEN = re.compile(r"[^\W_]+")


def normalize(s: str) -> str:
    """Lowercase, NFKD, drop non-spacing combining marks (category Mn)."""
    s = unicodedata.normalize("NFKD", s.lower())
    return "".join(c for c in s if unicodedata.category(c) != "Mn")


def tokenize(s: str | None) -> list[str]:
    """Runs of unicode letters/digits of the normalised text (JS: /[\\p{L}\\p{N}]+/gu)."""
    if not s:
        return []
    return _TOKEN.findall(normalize(s))


def token_columns(row: Mapping[str, Any]) -> dict[str, Any]:
    """The precomputed token columns of a product (CONTRACTS.md C1/C2), written by catalog.py at build time so the edge
    does not tokenise product text per request. ``title_terms`` / ``brand_terms`` / ``color_terms`` /
    ``category_terms``: the field's tokens in order, repeats kept, joined with single spaces (tokens never contain
    spaces; '' when none); ``text_terms``: the unique tokens of bullets then description in order of first
    appearance, joined the same way; ``title_unique_tokens``: distinct title tokens; ``bullets_tokens`` /
    ``description_tokens``: token counts. features.ts `tokenColumns` is the twin. ``compute_features`` here keeps
    computing from the raw text, so the parity fixture checks the columns the edge reads against this reference."""
    t = tokenize(row.get("title"))
    b = tokenize(row.get("bullets"))
    d = tokenize(row.get("description"))
    return {
        "title_terms": " ".join(t),
        "brand_terms": " ".join(tokenize(row.get("brand"))),
        "color_terms": " ".join(tokenize(row.get("color"))),
        "category_terms": " ".join(tokenize(row.get("category"))),
        "text_terms": " ".join(dict.fromkeys(b + d)),
        "title_unique_tokens": len(set(t)),
        "bullets_tokens": len(b),
        "description_tokens": len(d),
    }


def query_tokens(query: str) -> list[str]:
    """Unique tokens in order of first appearance, at most MAX_QUERY_TOKENS."""
    seen: dict[str, None] = {}
    for t in tokenize(query):
        if t not in seen:
            seen[t] = None
            if len(seen) == MAX_QUERY_TOKENS:
                break
    return list(seen)


def match_expression(query: str) -> str | None:
    """FTS5 MATCH expression: unique query tokens, each double-quoted, joined with OR; None when no token."""
    toks = query_tokens(query)
    return " OR ".join(f'"{t}"' for t in toks) if toks else None


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def _coverage(q: Sequence[str], field: set[str]) -> float:
    if not q:
        return 0.0
    hit = 0
    for t in q:
        if t in field:
            hit += 1
    return hit / len(q)


def _subset(field: list[str], qset: set[str]) -> float:
    if not field:
        return 0.0
    for t in field:
        if t not in qset:
            return 0.0
    return 1.0


def compute_features(query: str, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """float32 matrix [len(rows), NUM_FEATURES], row-major, same order as ``rows``."""
    n = len(rows)
    out = np.zeros((n, NUM_FEATURES), dtype=np.float32)
    if n == 0:
        return out
    q = query_tokens(query)
    qset = set(q)
    all_q = tokenize(query)
    all_qset = set(all_q)
    q_phrase = " " + " ".join(all_q) + " "
    first = all_q[0] if all_q else None

    bm = [_num(r.get("bm25")) or 0.0 for r in rows]
    bmt = [_num(r.get("bm25_title")) or 0.0 for r in rows]
    max_bm = max(bm)
    max_bmt = max(bmt)

    lp: list[float | None] = []
    lrc: list[float | None] = []
    for r in rows:
        p = _num(r.get("price"))
        lp.append(math.log1p(max(p, 0.0)) if p is not None else None)
        c = _num(r.get("rating_count"))
        lrc.append(math.log1p(max(c, 0.0)) if c is not None else None)
    lp_sum, lp_n, lrc_sum, lrc_n = 0.0, 0, 0.0, 0
    for i in range(n):
        if lp[i] is not None:
            lp_sum += lp[i]  # type: ignore[operator]
            lp_n += 1
        if lrc[i] is not None:
            lrc_sum += lrc[i]  # type: ignore[operator]
            lrc_n += 1
    lp_mean = lp_sum / lp_n if lp_n else 0.0
    lrc_mean = lrc_sum / lrc_n if lrc_n else 0.0

    for i, r in enumerate(rows):
        title = tokenize(r.get("title"))
        brand = tokenize(r.get("brand"))
        color = tokenize(r.get("color"))
        bullets = tokenize(r.get("bullets"))
        desc = tokenize(r.get("description"))
        cat = tokenize(r.get("category"))
        ts, bs, cs, gs = set(title), set(brand), set(color), set(cat)
        xs = set(bullets)
        xs.update(desc)
        anys = ts | bs | cs | xs | gs
        rank = 0
        for v in bm:
            if v > bm[i]:
                rank += 1
        title_prec = 0.0
        if ts:
            hit = 0
            for t in ts:
                if t in qset:
                    hit += 1
            title_prec = hit / len(ts)
        rating = _num(r.get("rating"))
        f = (
            bm[i],
            _num(r.get("bm25_title")) or 0.0,
            _num(r.get("bm25_brand")) or 0.0,
            _num(r.get("bm25_color")) or 0.0,
            _num(r.get("bm25_bullets")) or 0.0,
            _num(r.get("bm25_description")) or 0.0,
            bm[i] / max_bm if max_bm > 0 else 0.0,
            1.0 / (1.0 + rank),
            bmt[i] / max_bmt if max_bmt > 0 else 0.0,
            float(len(q)),
            _coverage(q, ts),
            _coverage(q, bs),
            _coverage(q, cs),
            _coverage(q, xs),
            _coverage(q, gs),
            _coverage(q, anys),
            title_prec,
            1.0 if all_q and q_phrase in " " + " ".join(title) + " " else 0.0,
            1.0 if first is not None and first in ts else 0.0,
            _subset(brand, all_qset),
            _subset(color, all_qset),
            lp[i] if lp[i] is not None else 0.0,
            1.0 if lp[i] is None else 0.0,
            lp[i] - lp_mean if lp[i] is not None else 0.0,  # type: ignore[operator]
            rating if rating is not None else 0.0,
            1.0 if rating is None else 0.0,
            lrc[i] if lrc[i] is not None else 0.0,
            1.0 if lrc[i] is None else 0.0,
            lrc[i] - lrc_mean if lrc[i] is not None else 0.0,  # type: ignore[operator]
            math.log1p(len(title)),
            math.log1p(len(bullets)),
            math.log1p(len(desc)),
            1.0 if (_num(r.get("is_book")) or 0.0) != 0 else 0.0,
        )
        out[i] = f
    return out
