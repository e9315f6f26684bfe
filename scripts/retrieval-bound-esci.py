"""Retrieval quality of the bounded first pass on ESCI (README "Scale"): for each bound M, how many of the judged
queries match more than M products, for how many the top 200 equals retrieve.sql's, and the mean recall@200 of the
Exact-labelled products, against retrieve.sql on the same catalogue.

    .vitrine/venv/bin/python scripts/retrieval-bound-esci.py [--bounds 2000,5000,10000]

Reads the built catalogue (.vitrine/catalog/catalog.sqlite, copied to a temporary file: it is never changed), adds the
store's quality-ordered index as edge/catalog/store-index.ts does, and runs the edge's SQL files verbatim.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "gpu-tier"))
from vitrine_gpu.search.features import match_expression  # noqa: E402

STORE, FTS = "esci", "products_fts_esci"


def sql_file(name: str) -> str:
    return (REPO / name).read_text().replace("{{fts}}", FTS)


def add_quality_index(conn: sqlite3.Connection) -> None:
    key = re.sub(r"^--.*$", "", (REPO / "edge/catalog/quality-key.sql").read_text(), flags=re.M).strip()
    for part in sql_file("edge/catalog/quality-index.sql").split("--> statement-breakpoint"):
        stmt = re.sub(r"^--.*$", "", part, flags=re.M).strip().replace("{{store}}", STORE)
        stmt = re.sub(r"\{\{key:(\w+)\}\}", lambda m: key.replace("{{row}}", m.group(1)), stmt)
        if stmt:
            conn.execute(stmt)
    conn.commit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bounds", default="2000,5000,10000")
    args = ap.parse_args()
    state = REPO / ".vitrine" / "catalog"
    source = json.loads((state / "source.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "catalog.sqlite"
        shutil.copy(state / "catalog.sqlite", db)
        conn = sqlite3.connect(db)
        add_quality_index(conn)
        exact_sql, bounded_sql = sql_file("edge/search/retrieve.sql"), sql_file("edge/search/retrieve-bounded.sql")
        with gzip.open(source["queries"], "rt") as f:
            queries = [(q["query_id"], q["query"]) for q in csv.DictReader(f)]
        exact_ids: dict[str, set[str]] = {}
        with gzip.open(source["labels"], "rt") as f:
            for row in csv.DictReader(f):
                if row["esci_label"] == "E":
                    exact_ids.setdefault(row["query_id"], set()).add(row["product_id"])
        print(f"{len(queries)} ESCI queries, {source['products']} products; k = 200")
        for bound in (int(b) for b in args.bounds.split(",")):
            n = over = same = 0
            recall_exact = recall_bounded = 0.0
            for qid, text in queries:
                match = match_expression(text)
                if match is None:
                    continue
                a = [r[1] for r in conn.execute(exact_sql, (match, 200, STORE))]
                b = [r[1] for r in conn.execute(bounded_sql, (match, 200, STORE, bound))]
                hits = conn.execute(f"SELECT count(*) FROM {FTS}_q WHERE {FTS}_q MATCH ?", (match,)).fetchone()[0]
                n, over, same = n + 1, over + (hits > bound), same + (a == b)
                wanted = exact_ids.get(qid, set())
                if wanted:
                    recall_exact += len(wanted & set(a)) / len(wanted)
                    recall_bounded += len(wanted & set(b)) / len(wanted)
            print(
                f"M = {bound:>6,}: {over} of {n} queries match more than M, top 200 identical for {same}; "
                f"Exact recall@200 {recall_bounded / n:.3f} (retrieve.sql {recall_exact / n:.3f})"
            )


if __name__ == "__main__":
    main()
