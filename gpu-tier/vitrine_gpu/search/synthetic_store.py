"""A seeded synthetic store at any size, streamed: products in the catalogue API's shape, purchase events in
`POST /v1/events`' shape and a fixed head / torso / tail query mix (``npm run bench:scale``, ``bench:retrieval``,
``catalog:import``; the one Zipf catalogue generator, read by the scripts through ``recs synthetic-scale``).

It extends the small synthetic catalogue (``search/synthetic.py``: its product types, brands, adjectives, colours)
to 10^6–10^7 products without holding them in memory:

- **Vocabulary.** ``VOCAB`` pronounceable model words drawn with a Zipf law (rank r ∝ r^-``ZIPF_S``), so term
  frequencies follow natural text: a few words are in most descriptions, most are in a handful. Titles carry the
  product type, colour, material, adjectives and one Zipf model word; descriptions are 40–200 words (lognormal,
  median ~80) mixing the type words with the Zipf draws.
- **Brands.** The 36 named brands plus generated ones (one per 200 products), drawn Zipf (a few big brands).
- **Purchases.** ``events_per_product`` events per product by default (10), in baskets of 1–4 items: the basket's
  first item Zipf-popular (ranks over a seeded permutation of the ids, so popularity is not the id order), the others
  its fixed co-purchase partners; buyers Zipf-active over ``users`` customers (so most return); timestamps uniform
  over the last ``days`` days before ``now_ms``. Everything is drawn in numpy chunks: memory is O(chunk + products).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from .synthetic import ADJECTIVES, BRANDS, COLORS, TYPES

ZIPF_S = 1.07  # word-frequency exponent of English text
VOCAB = 50_000
CHUNK = 10_000
_ONSETS = ("b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr", "st", "pl", "gr")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ea")
_CODAS = ("", "n", "r", "l", "s", "x", "th", "nd")
PRODUCT_ID = "S{:08d}"


def _word(k: int) -> str:
    """The k-th pronounceable word (bijective for k < VOCAB: base-(20·8·8) digits, at least two syllables)."""
    base = len(_ONSETS) * len(_VOWELS) * len(_CODAS)
    parts = []
    for _ in range(2 if k < base * base else 3):
        d, k = k % base, k // base
        parts.append(_ONSETS[d % 20] + _VOWELS[(d // 20) % 8] + _CODAS[d // 160])
    return "".join(parts)


def _zipf_cdf(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    c = np.cumsum(w)
    return c / c[-1]


def _zipf(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(size)), cdf.size - 1)


@dataclass(frozen=True)
class StoreSpec:
    products: int
    events: int | None = None  # default: events_per_product × products
    events_per_product: int = 10
    users: int | None = None  # default: events / 8
    days: int = 180
    now_ms: int = 0  # the newest event's clock (0: the caller's "now" must be passed)
    seed: int = 7

    @property
    def n_events(self) -> int:
        return self.events if self.events is not None else self.events_per_product * self.products

    @property
    def n_users(self) -> int:
        return self.users if self.users is not None else max(60, self.n_events // 8)


WORDS = tuple(_word(k) for k in range(VOCAB))
_COLOR_CDF = _zipf_cdf(len(COLORS), 1.0)
_WORD_CDF = _zipf_cdf(VOCAB, ZIPF_S)


def _brands(n_products: int) -> tuple[str, ...]:
    extra = max(0, n_products // 200 - len(BRANDS))
    return (*BRANDS, *(WORDS[VOCAB - 1 - k].title() for k in range(extra)))


def products(spec: StoreSpec) -> Iterator[dict[str, Any]]:
    """The catalogue, one API product (``edge/catalog/product.ts``) at a time, in id order; deterministic per seed."""
    rng = np.random.default_rng(spec.seed)
    brands = _brands(spec.products)
    brand_cdf = _zipf_cdf(len(brands), 1.0)
    for start in range(0, spec.products, CHUNK):
        n = min(CHUNK, spec.products - start)
        t_idx = rng.integers(0, len(TYPES), n)
        b_idx = _zipf(rng, brand_cdf, n)
        c_idx = _zipf(rng, _COLOR_CDF, n)  # colours are Zipf too: black ~30%, white ~15% (head queries)
        n_adj = rng.choice([0, 1, 1, 2], n)
        adj = rng.integers(0, len(ADJECTIVES), (n, 2))
        model = _zipf(rng, _WORD_CDF, n)
        lengths = np.clip(rng.lognormal(np.log(80), 0.5, n), 40, 200).astype(int)
        words = _zipf(rng, _WORD_CDF, int(lengths.sum()))
        ends = np.cumsum(lengths)
        price = np.round(np.maximum(2.0, rng.lognormal(0, 0.35, n)), 2)
        rating = np.round(np.clip(rng.normal(4.2, 0.5, n), 1, 5), 1)
        count = rng.lognormal(4, 1.5, n).astype(int)
        material = rng.integers(0, 8, n)
        for k in range(n):
            t = TYPES[t_idx[k]]
            adjs = [ADJECTIVES[a] for a in adj[k, : n_adj[k]]]
            mat = t.materials[material[k] % len(t.materials)]
            colour, brand = COLORS[c_idx[k]], brands[b_idx[k]]
            text = " ".join(WORDS[w] for w in words[ends[k] - lengths[k] : ends[k]])
            yield {
                "id": PRODUCT_ID.format(start + k),
                "title": f"{brand} {' '.join(adjs)} {mat} {t.name} {WORDS[model[k]]}, {colour}".replace("  ", " "),
                "brand": brand,
                "color": colour,
                "description": f"The {brand} {t.name} in {colour} {mat}. {text}.",
                "category": list(t.category),
                "price": float(round(price[k] * t.price, 2)),
                "rating": float(rating[k]),
                "ratingCount": int(count[k]),
            }


def partner(item: np.ndarray, j: int, n_products: int) -> np.ndarray:
    """The j-th usual co-purchase partner of each item (a fixed pseudo-random map)."""
    return (item * 2_654_435_761 + j * 40_503 + 12_345) % n_products


def events(spec: StoreSpec, store: str) -> Iterator[dict[str, Any]]:
    """``spec.n_events`` purchase events of the store in baskets, oldest basket first within a chunk."""
    if spec.now_ms <= 0:
        raise ValueError("events need now_ms (the newest event's clock, epoch ms)")
    rng = np.random.default_rng(spec.seed + 1)
    perm = rng.permutation(spec.products)  # popularity rank → product
    item_cdf = _zipf_cdf(spec.products, 1.0)
    user_cdf = _zipf_cdf(spec.n_users, 0.8)
    user_perm = rng.permutation(spec.n_users)
    span_ms = spec.days * 86_400_000
    made = 0
    basket = 0
    while made < spec.n_events:
        n_b = CHUNK
        size = rng.integers(1, 5, n_b)
        first = perm[_zipf(rng, item_cdf, n_b)]
        user = user_perm[_zipf(rng, user_cdf, n_b)]
        ts = spec.now_ms - 3_600_000 - (rng.random(n_b) * span_ms).astype(np.int64)
        partners = np.stack([first, *(partner(first, j, spec.products) for j in range(1, 4))], axis=1)
        for b in range(n_b):
            items = dict.fromkeys(int(i) for i in partners[b, : size[b]])
            for i in items:
                if made >= spec.n_events:
                    return
                yield {
                    "type": "purchase",
                    "store": store,
                    "user": f"u{user[b]}",
                    "productId": PRODUCT_ID.format(i),
                    "eventId": f"{store}-{basket}-{i}",
                    "ts": int(ts[b]),
                }
                made += 1
            basket += 1


def queries(spec: StoreSpec, per_class: int = 10) -> dict[str, list[str]]:
    """A fixed query mix: head (one very common word: a colour, a type word), torso (brand or colour + type), tail
    (a rare model word + its type, a handful of matches)."""
    rng = np.random.default_rng(spec.seed + 2)
    type_words = sorted({w for t in TYPES for w in t.name.split()})
    brands = _brands(spec.products)
    head = [*COLORS[:5], *(type_words[i] for i in rng.choice(len(type_words), per_class - 5, replace=False))]
    torso = [
        f"{brands[i % 8].lower()} {TYPES[int(t)].name}" if i % 2 == 0 else f"{COLORS[i]} {TYPES[int(t)].name}"
        for i, t in enumerate(rng.integers(0, len(TYPES), per_class))
    ]
    tail = [
        f"{WORDS[int(w)]} {TYPES[int(t)].name.split()[-1]}"
        for w, t in zip(
            rng.integers(VOCAB // 10, VOCAB, per_class), rng.integers(0, len(TYPES), per_class), strict=True
        )
    ]
    return {"head": head[:per_class], "torso": torso, "tail": tail}


def write_ndjson(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    n = 0
    for r in rows:
        out.write(json.dumps(r, separators=(",", ":")) + "\n")
        n += 1
    return n
