"""Evaluate the served cascade on judged queries through the running edge.

    python -m vitrine_gpu eval-search --queries queries.csv.gz --labels labels.csv.gz [--edge http://127.0.0.1:8787]

Files use the esci_us_150q schema (any queries). For each query the judged pool (products not in the catalog are
skipped and counted) is sent to POST /v1/rerank {query, candidates}; the served order is scored with nDCG (ESCI
gains, over the full judged pool) and nDCG@10, with 95% bootstrap CIs. Offline rankers on the same pools for
comparison: random, BM25 (edge/search/candidates.sql on .vitrine/catalog/catalog.sqlite) and the current light model
(onnxruntime on .vitrine/registry/light/<current>/model.onnx).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from .. import registry
from ..metrics import markdown_table, ndcg
from . import catalog
from .features import compute_features, match_expression

MAX_QUERY_CHARS = 200  # POST /v1/rerank limits
MAX_CANDIDATES = 200


def _rerank(client: Any, edge: str, query: str, ids: list[str]) -> tuple[list[str], dict[str, Any], list[str]]:
    """(ranked ids, response body, ids the edge did not know). Retries once without unknown ids."""
    body = {"query": query, "candidates": ids}
    r = client.post(f"{edge.rstrip('/')}/v1/rerank", json=body)
    unknown: list[str] = []
    if r.status_code == 400 and r.json().get("error") == "unknown_candidates":
        unknown = list(r.json().get("unknown", []))
        body["candidates"] = [i for i in ids if i not in set(unknown)]
        if not body["candidates"]:
            return [], r.json(), unknown
        r = client.post(f"{edge.rstrip('/')}/v1/rerank", json=body)
    if r.status_code != 200:
        raise RuntimeError(f"POST /v1/rerank for {query!r}: HTTP {r.status_code} {r.text[:300]}")
    data = r.json()
    return [str(it["id"]) for it in data["items"]], data, unknown


def _positional_scores(ranked: list[str], ids: list[str]) -> np.ndarray:
    pos = {pid: i for i, pid in enumerate(ranked)}
    # products the edge did not return rank below every returned one
    return np.array([-(pos[i] if i in pos else len(ranked) + 1) for i in ids], dtype=np.float64)


def run(a: argparse.Namespace) -> int:
    """``eval-search`` (its arguments: cli.py)."""
    queries = catalog.read_queries(a.queries)
    labels = catalog.read_labels(a.labels)
    conn = catalog.connect(a.catalog)
    known = catalog.product_ids(conn)
    cur = registry.read_current()
    light_v = cur.get("light")
    sess = None
    if light_v:
        import onnxruntime as ort

        sess = ort.InferenceSession(
            str(registry.version_dir("light", light_v) / "model.onnx"), providers=["CPUExecutionProvider"]
        )
    rng = np.random.default_rng(a.seed)

    per: dict[str, tuple[list[float], list[float]]] = {}

    def add(name: str, s: np.ndarray, g: np.ndarray) -> None:
        full, at10 = per.setdefault(name, ([], []))
        full.append(ndcg(s, g))
        at10.append(ndcg(s, g, 10))

    skipped_products = skipped_queries = degraded = truncated = 0
    reasons: dict[str, int] = {}
    served_models: set[str] = set()
    client = None
    if not a.offline_only:
        import httpx

        client = httpx.Client(timeout=a.timeout)
    from tqdm import tqdm

    t0 = time.time()
    for qid, q in tqdm(list(queries.items()), desc="queries", unit="q", file=sys.stderr):
        pool = labels.get(qid, {})
        ids = [i for i in pool if i in known]
        skipped_products += len(pool) - len(ids)
        q_sent = q.strip()[:MAX_QUERY_CHARS]
        if not ids or match_expression(q_sent) is None:
            skipped_queries += 1
            continue
        if len(ids) > MAX_CANDIDATES:
            truncated += len(ids) - MAX_CANDIDATES
            ids = ids[:MAX_CANDIDATES]
        g = np.array([pool[i] for i in ids], dtype=np.float64)
        rows = catalog.candidates(conn, q_sent, ids)
        by_id = {r["id"]: r for r in rows}
        rows = [by_id[i] for i in ids]
        add("random", rng.random(len(ids)), g)
        add("bm25 (candidates.sql)", np.array([r["bm25"] for r in rows], dtype=np.float64), g)
        if sess is not None:
            x = compute_features(q_sent, rows)
            add(f"light onnx ({light_v})", sess.run(["score"], {"features": x})[0].astype(np.float64), g)
        if client is not None:
            ranked, body, unknown = _rerank(client, a.edge, q_sent, ids)
            skipped_products += len(unknown)
            if unknown:
                keep = [k for k, i in enumerate(ids) if i not in set(unknown)]
                ids_e, g_e = [ids[k] for k in keep], g[keep]
            else:
                ids_e, g_e = ids, g
            if body.get("degraded"):
                degraded += 1
                reason = str(body.get("degradedReason", "unknown"))
                reasons[reason] = reasons.get(reason, 0) + 1
            served_models.add(
                f"light {body.get('models', {}).get('light')}, heavy {body.get('models', {}).get('heavy')}"
            )
            add("served cascade (edge /v1/rerank)", _positional_scores(ranked, ids_e), g_e)
    order = ["served cascade (edge /v1/rerank)", f"light onnx ({light_v})", "bm25 (candidates.sql)", "random"]
    rows_md = [(n, *per[n]) for n in order if n in per]
    print()
    print(
        f"queries: {len(queries)} ({skipped_queries} skipped: no judged product in the catalog or no token); "
        f"judged products not in the catalog (skipped): {skipped_products}"
        + (f"; candidates beyond {MAX_CANDIDATES} dropped: {truncated}" if truncated else "")
    )
    if client is not None:
        print(
            f"edge: {a.edge}; served models: {', '.join(sorted(served_models)) or '-'}; "
            f"degraded answers: {degraded}" + (f" ({json.dumps(reasons)})" if reasons else "")
        )
    print(
        f"nDCG with ESCI gains (E=1, S=0.1, C=0.01, I=0) over each query's judged pool; 95% bootstrap CIs over "
        f"queries; {time.time() - t0:.0f} s\n"
    )
    print(markdown_table(rows_md, seed=a.seed))
    return 0
