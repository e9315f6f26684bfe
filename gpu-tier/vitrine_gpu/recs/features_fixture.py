"""Writes test/fixtures/recs-features-parity.json for the TypeScript port of the recs sources and features
(edge/recs/, test/edge/recommend.test.ts): a small seeded synthetic store's D1 rows (``tables.json`` of a fit with a
small ``SourceConfig``), and for a set of requests (known user, unknown user, product page, cart, personalised cart,
anonymous) the merged candidates and the 29 features ``candidates`` + ``features`` give on the edge view of those
rows (``edge_view.tables_from_json``). ``tables.mf_top`` holds the version's MF top-N lists (``recs.mf_top``, D1
``recs_mf_top``): the edge's MF source reads them where Python scans.

    python -m vitrine_gpu recs fixture [OUT]
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from .. import paths
from . import data, synthetic
from .edge_view import tables_from_json
from .features import FEATURE_NAMES, features
from .mf_top import mf_top_rows
from .sources import SourceConfig, candidates, fit_tables
from .train import tables_json

OUT = paths.REPO / "test" / "fixtures" / "recs-features-parity.json"
CONFIG = SourceConfig(
    neighbours=8, content_neighbours=5, mf_factors=6, mf_iterations=3, per_source=25, max_history=12, max_candidates=45
)


def build() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        f = synthetic.write(Path(d) / "s.csv.gz", n_customers=30, n_products=70, days=120, seed=3)
        inter = data.load([f])
    now = data.end_of_day(data.date_of(inter.end))
    tj = tables_json(fit_tables(inter, now, CONFIG), inter.catalogue.codes, "recs-light-fixture")
    t, codes = tables_from_json(json.loads(json.dumps(tj)))
    index = {c: i for i, c in enumerate(codes)}
    users = sorted(t.history, key=lambda u: -t.history[u].items.size)
    heavy_user, light_user = users[0], users[-1]
    page = codes[int(t.nb_ids[:, 0].argmax())]
    requests: list[dict[str, Any]] = [
        {"user": heavy_user, "context": []},
        {"user": light_user, "context": []},
        {"user": "nobody", "context": []},
        {"user": None, "context": [page]},
        {"user": None, "context": [codes[3], codes[10], codes[11]]},
        {"user": heavy_user, "context": [codes[5], codes[20]]},
        {"user": None, "context": []},
    ]
    cases = []
    for r in requests:
        ctx = [index[c] for c in r["context"]]
        c = candidates(t, r["user"], ctx)
        x = features(t, r["user"], c, ctx)
        cases.append(
            {
                **r,
                "items": [codes[i] for i in c.items.tolist()],
                "features": [[float(v) for v in row] for row in x.tolist()],
            }
        )
    # the MF top-N lists the edge reads instead of scanning (recs_mf_top: kind, key, items JSON, scores JSON)
    mf_top = [list(row) for row in mf_top_rows(tj)]
    return {"feature_names": list(FEATURE_NAMES), "tables": {**tj, "mf_top": mf_top}, "cases": cases}


def write(out: Path = OUT) -> int:
    """``recs fixture [OUT]``: write the fixture."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(build(), separators=(",", ":")) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0
