"""What the benches measure with: the catalog workload (queries with their judged products, the products as the edge
sends them), the heavy model under test (the registry's, else the untrained all-MiniLM-L6-v2 cross-encoder: same
architecture and cost) and its FLOPs per pair on that workload (``flops.pair_flops``)."""

from __future__ import annotations

import csv
import gzip
import json
import random
import sqlite3
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from transformers import AutoTokenizer

from .. import paths
from ..search.catalog import read_products_jsonl
from ..search.heavy.model import build_heavy, format_document, save_heavy
from ..search.heavy.term_cache import edge_doc
from ..server.model_store import list_heavy_versions, read_current_heavy
from .flops import PairFlops, pair_flops

DOC_FIELDS = ("id", "title", "brand", "color", "bullets", "description")


@dataclass
class Workload:
    source: str
    queries: list[tuple[str, list[str]]]  # (query text, judged product ids)
    products: dict[str, dict[str, str]]


def _read_csv_gz(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def load_workload() -> Workload:
    """Products from .vitrine/catalog/catalog.sqlite (else the ESCI jsonl in place); queries and their judged
    products from the dataset (ESCI in ../shared, else the pipeline's synthetic files)."""
    products: dict[str, dict[str, str]] = {}
    db = paths.CATALOG / "catalog.sqlite"
    source = ""
    if db.is_file():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            for row in con.execute(f"SELECT {', '.join(DOC_FIELDS)} FROM products"):
                products[row[0]] = {k: (v or "") for k, v in zip(DOC_FIELDS, row)}
            source = str(db)
        finally:
            con.close()
    qdir: Path | None = paths.esci_dir()
    if qdir is None and (paths.CATALOG / "synthetic" / "queries.csv.gz").is_file():
        qdir = paths.CATALOG / "synthetic"
    if not products and qdir is not None and (qdir / "products.jsonl.gz").is_file():
        for r in read_products_jsonl(qdir / "products.jsonl.gz"):
            products[r["id"]] = {k: str(r.get(k) or "") for k in DOC_FIELDS}
        source = str(qdir / "products.jsonl.gz")
    if not products:
        raise SystemExit("bench: no catalog found — run `npm run pipeline` (or the pipeline's prepare step) first")
    queries: list[tuple[str, list[str]]] = []
    if qdir is not None:
        judged: dict[str, list[str]] = {}
        for row in _read_csv_gz(qdir / "labels.csv.gz"):
            if row["product_id"] in products:
                judged.setdefault(row["query_id"], []).append(row["product_id"])
        for row in _read_csv_gz(qdir / "queries.csv.gz"):
            queries.append((row["query"], judged.get(row["query_id"], [])))
    if not queries:  # a catalog without query files: product-title prefixes as queries
        for p in list(products.values())[:200]:
            queries.append((" ".join(p["title"].split()[:3]) or "product", [p["id"]]))
    return Workload(source, queries, products)


def build_requests(w: Workload, pairs: int, n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    ids = list(w.products)
    bodies = []
    for i in range(n):
        query, judged = w.queries[i % len(w.queries)]
        chosen = list(dict.fromkeys(judged))[:pairs]
        while len(chosen) < pairs:
            pid = rng.choice(ids)
            if pid not in chosen:
                chosen.append(pid)
        rng.shuffle(chosen)
        docs = [edge_doc(w.products[pid]) for pid in chosen]  # as the edge sends them
        bodies.append(json.dumps({"query": query[:500], "documents": docs}).encode())
    return bodies


def has_heavy(registry: Path) -> bool:
    """Whether the registry names or holds a heavy version."""
    return bool(read_current_heavy(registry) or list_heavy_versions(registry))


def pretrained_registry() -> Path:
    """A temp registry holding the untrained pretrained MiniLM cross-encoder (fallback when none was trained)."""
    reg = Path(tempfile.mkdtemp(prefix="vitrine-bench-registry-"))
    version = "heavy-untrained-minilm"
    model, tokenizer, arch = build_heavy(pretrained=True)
    vdir = save_heavy(model, tokenizer, reg / "heavy" / version, {"trained": False}, arch)
    (vdir / "manifest.json").write_text(
        json.dumps(
            {"version": version, "kind": "heavy", "files": {}, "backbone": "all-MiniLM-L6-v2", "untrained": True}
        )
    )
    (reg / "current.json").write_text(json.dumps({"heavy": version}))
    return reg


def model_flops(model_dir: Path, w: Workload, pairs: int) -> PairFlops:
    """FLOPs per pair of the served model on this workload's mean token lengths (``flops.pair_flops``)."""
    cfg = json.loads((model_dir / "heavy_config.json").read_text())
    enc = json.loads((model_dir / "encoder_config.json").read_text())
    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    rng = random.Random(3)
    docs = [format_document(w.products[p]) for p in rng.sample(list(w.products), min(400, len(w.products)))]
    queries = [cfg.get("query_prefix", "") + q for q, _ in w.queries[:400]]
    dt = statistics.fmean(
        len(x) for x in tok(docs, truncation=True, max_length=int(cfg["max_doc_tokens"]))["input_ids"]
    )
    qt = statistics.fmean(
        len(x) for x in tok(queries, truncation=True, max_length=int(cfg["max_query_tokens"]))["input_ids"]
    )
    return pair_flops(
        hidden=int(enc["hidden_size"]),
        intermediate=int(enc["intermediate_size"]),
        num_layers=int(cfg["num_layers"]),
        num_cross_layers=int(cfg.get("num_cross_layers", 1)),
        query_tokens=qt,
        doc_tokens=dt,
        pairs_per_query=pairs,
    )
