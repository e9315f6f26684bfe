"""Writes test/fixtures/features-parity.json: tokenizer cases, match expressions and feature matrices computed by
features.py on rows retrieved (retrieve.sql / candidates.sql) from a small synthetic catalog, and catalogue API
products with the rows ``catalog.product_row`` maps them to, for the TypeScript parity test
(test/edge/features-parity.test.ts).

    python -m vitrine_gpu search fixture [OUT]
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from .. import paths
from . import catalog, synthetic
from .features import FEATURE_NAMES, compute_features, match_expression, tokenize

OUT = paths.REPO / "test" / "fixtures" / "features-parity.json"

TOKENIZER_CASES = [
    "Running Shoes for MEN",
    "Café crème brûlée",
    "naïve_test snake_case",
    "ΟΔΟΣ ΣΟΦΟΣ όδος",
    "ﬁne ﬂour ½ cup",
    '4K UHD 55" TV (2021)',
    "Straße GROẞ",
    "İstanbul ıi",
    "日本語のテキスト 東京",
    "emoji 🙂 test ✓",
    "x-ray/ultra—light",
    "Ｆｕｌｌｗｉｄｔｈ １２３",
    "Ångström Øresund Łódź",
    "don't can’t",
    "",
    "   ",
    "a\u0301\u0327b",
    "٣٤٥ arabic digits",
    "hindi हिन्दी किताब",
    "ⅻ roman Ⅳ",
    "tab\tnew\nline",
    "Ⅷ²³ superscripts x²",
]

EXTRA_PRODUCTS: list[dict[str, Any]] = [
    {
        "product_id": "ZZ0000001",
        "title": "Café Crème Espresso Cups, Set of 4 – Porcelain",
        "description": "",
        "bullet_points": "Dishwasher safe\nMicrowave safe",
        "brand": "Brûlée & Co",
        "color": "Crème",
        "category": [],
        "price": None,
        "rating": None,
        "rating_count": None,
        "is_book": False,
    },
    {
        "product_id": "ZZ0000002",
        "title": "ΟΔΟΣ Greek Cookbook: Ουζο and Μεζέδες",
        "description": "Recipes from Αθήνα.",
        "bullet_points": "",
        "brand": None,
        "color": None,
        "category": ["Books", "Cookbooks, Food & Wine"],
        "price": 0.0,
        "rating": 5.0,
        "rating_count": 0,
        "is_book": True,
    },
    {
        "product_id": "ZZ0000003",
        "title": '4K UHD 55" Smart TV (2021) — x-ray/ultra light',
        "description": "ﬁne picture",
        "bullet_points": "HDR10\n120Hz",
        "brand": "Ｆｕｌｌｗｉｄｔｈ",
        "color": "Black",
        "category": ["Electronics", "TV"],
        "price": 499.99,
        "rating": 4.4,
        "rating_count": 1234,
        "is_book": False,
    },
]
CATALOG_EDGE_CASES: list[dict[str, Any]] = [
    # 12,000 bytes fall inside a 2-byte character: it is dropped whole
    {"id": "clip-1", "title": "a" + "é" * 7000, "category": ["Kindle Store", "Kindle eBooks"]},
    {"id": "clip-2", "title": "Notebook", "description": "€" * 5000, "category": ["Office Products", "Notebooks"]},
    {"id": " padded-id ", "title": " Spaced title ", "brand": "B", "available": False, "ratingCount": 3},
    {"id": "audio", "title": "Audio", "category": ["Audible Books & Originals"], "price": 0, "rating": 4.5},
]
QUERIES_EXTRA = [
    "café crème cups",
    "ΟΔΟΣ cookbook",
    '4k tv 55"',
    "FULLWIDTH ｔｖ black",
    "running shoes men",
    "coffee maker",
    "espresso machine stainless steel",
]


def build(out: Path = OUT) -> dict[str, Any]:
    products, queries, _ = synthetic.generate(n_products=400, n_queries=6, seed=11)
    products = products + EXTRA_PRODUCTS
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        jl = tmp / "products.jsonl.gz"
        catalog.write_jsonl_gz(jl, products)
        rows = [catalog.catalog_row(r) for r in catalog.read_products_jsonl(jl)]
        catalog.build_sqlite(rows, tmp / "catalog.sqlite")
        conn = catalog.connect(tmp / "catalog.sqlite")
        cases: list[dict[str, Any]] = []
        for q in [t for _, t, _ in queries] + QUERIES_EXTRA:
            got = catalog.retrieve(conn, q, 12)
            cases.append({"query": q, "source": "retrieve", "rows": got})
            # a rerank-style list: some matches plus products the query does not match (bm25 = 0)
            ids = [r["id"] for r in got[:4]] + [p["product_id"] for p in products[::97]][:5]
            cases.append({"query": q, "source": "candidates", "rows": catalog.candidates(conn, q, ids)})
        conn.close()
    cases.append({"query": "nothing matches", "source": "empty", "rows": []})
    for c in cases:
        c["features"] = [float(v) for v in compute_features(c["query"], c["rows"]).reshape(-1)]
    # catalogue API products (the extra ones, a synthetic sample, edge cases of clipping and categories) and their rows
    api_products = [catalog.esci_to_product(p) for p in EXTRA_PRODUCTS + products[:40:4]] + CATALOG_EDGE_CASES
    fixture = {
        "generated_by": "python -m vitrine_gpu search fixture",
        "catalog": [
            {"product": p, "row": {k: v for k, v in catalog.product_row(p).items() if k != "rowid"}}
            for p in api_products
        ],
        "feature_names": list(FEATURE_NAMES),
        "tokenizer": [{"text": s, "tokens": tokenize(s)} for s in TOKENIZER_CASES],
        "match": [
            {"query": s, "expr": match_expression(s)}
            for s in TOKENIZER_CASES + QUERIES_EXTRA + [" ".join(f"w{i}" for i in range(40))]
        ],
        "cases": cases,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return fixture


def write(out: Path = OUT) -> int:
    """``search fixture [OUT]``: write the fixture."""
    fx = build(out)
    print(f"wrote {out}: {len(fx['cases'])} cases, {sum(len(c['rows']) for c in fx['cases'])} rows")
    return 0
