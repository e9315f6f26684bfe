"""Judged query pools for training/evaluating the heavy model, in the ESCI schema (CONTRACTS.md C1).

Source: ../shared/datasets/esci_us_150q when present, else the synthetic catalogue written by `pipeline prepare`
(.vitrine/catalog/synthetic/{products.jsonl.gz,queries.csv.gz,labels.csv.gz}).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import paths
from ..catalog import esci_to_row

ESCI_GAINS = {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0}


@dataclass
class Pool:
    query_id: str
    query: str
    product_ids: list[str]
    labels: list[str]
    gains: list[float]


@dataclass
class Dataset:
    source: str  # "esci" | "synthetic"
    pools: dict[str, Pool]  # by query id, in query id order
    products: dict[str, dict[str, Any]]  # product id -> ESCI-schema product
    data_hash: str

    @property
    def query_ids(self) -> list[str]:
        return list(self.pools)


def data_dir() -> tuple[str, Path]:
    esci = paths.esci_dir()
    if esci is not None:
        return "esci", esci
    syn = paths.CATALOG / "synthetic"
    if (syn / "labels.csv.gz").exists():
        return "synthetic", syn
    raise FileNotFoundError(
        "no judged data: ../shared/datasets/esci_us_150q is absent and `python -m vitrine_gpu pipeline prepare` "
        "has not written .vitrine/catalog/synthetic/"
    )


def _read_csv_gz(p: Path) -> list[dict[str, str]]:
    with gzip.open(p, "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _file_hash(files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def load_dataset(with_products: bool = True) -> Dataset:
    source, d = data_dir()
    queries = {r["query_id"]: r["query"] for r in _read_csv_gz(d / "queries.csv.gz")}
    pools: dict[str, Pool] = {}
    for r in _read_csv_gz(d / "labels.csv.gz"):
        qid = r["query_id"]
        if qid not in queries:
            continue
        pool = pools.setdefault(qid, Pool(qid, queries[qid], [], [], []))
        lab = r["esci_label"]
        pool.product_ids.append(r["product_id"])
        pool.labels.append(lab)
        pool.gains.append(float(r["gain"]) if r.get("gain") not in (None, "") else ESCI_GAINS[lab])
    ordered = dict(sorted(pools.items(), key=lambda kv: (int(kv[0]) if kv[0].isdigit() else 0, kv[0])))
    products: dict[str, dict[str, Any]] = {}
    if with_products:
        needed = {pid for p in ordered.values() for pid in p.product_ids}
        with gzip.open(d / "products.jsonl.gz", "rt", encoding="utf-8") as f:
            for line in f:
                obj = json.loads(line)
                if obj["product_id"] in needed:
                    products[obj["product_id"]] = obj
    files = [d / "queries.csv.gz", d / "labels.csv.gz", d / "products.jsonl.gz"]
    return Dataset(source, ordered, products, _file_hash(files))


DOC_FIELDS = ("id", "title", "brand", "color", "bullets", "description")


def product_as_doc(p: dict[str, Any]) -> dict[str, Any]:
    """ESCI-schema product -> the GPU-tier request document shape (CONTRACTS.md C4), mapped as the catalog maps it."""
    row = esci_to_row(p)
    return {k: row[k] for k in DOC_FIELDS}
