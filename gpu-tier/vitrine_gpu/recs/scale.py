"""The store pipeline at scale: a D1-shaped SQLite of a synthetic store of any size (built with SQL, never in memory)
and a timing of ``pipeline recs --store``'s steps on it — wall time and peak RSS per step (``recs time-store``).

The steps are those of ``store_train.train_store`` (read → interactions → ranker lists + fit → tables → sequence
model), run against a scratch registry so nothing shipped changes. Peak RSS per step is sampled every 20 ms from
``/proc/self/statm`` while the step runs; ``peak_rss_mb`` of the run is ``resource.getrusage``'s ``ru_maxrss``.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..search.synthetic_store import StoreSpec, events, products

BATCH = 50_000


def build_db(spec: StoreSpec, store: str, path: Path) -> dict[str, Any]:
    """``stores``, ``products`` and ``recs_history`` as D1 holds them after the catalogue import and the events:
    the events go into a scratch table in batches and ``recs_history`` is one GROUP BY (as the edge's upsert)."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
        CREATE TABLE stores (id TEXT PRIMARY KEY, title TEXT NOT NULL);
        CREATE TABLE products (id TEXT NOT NULL, store TEXT NOT NULL, title TEXT NOT NULL, brand TEXT, category TEXT,
          price REAL, available INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (store, id));
        CREATE TABLE recs_history (store TEXT NOT NULL, user_id TEXT NOT NULL, item_id TEXT NOT NULL, n INTEGER NOT NULL,
          last_day REAL NOT NULL, qty INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (store, user_id, item_id));
        CREATE TEMP TABLE ev (user_id TEXT NOT NULL, item_id TEXT NOT NULL, ts INTEGER NOT NULL);
        """
    )
    conn.execute("INSERT INTO stores VALUES (?, ?)", (store, f"synthetic {spec.products}"))
    rows = ((p["id"], store, p["title"], p["brand"], " > ".join(p["category"]), p["price"]) for p in products(spec))
    for batch in _batches(rows):
        conn.executemany("INSERT INTO products (id, store, title, brand, category, price) VALUES (?,?,?,?,?,?)", batch)
    for batch in _batches((e["user"], e["productId"], e["ts"]) for e in events(spec, store)):
        conn.executemany("INSERT INTO ev VALUES (?,?,?)", batch)
    conn.execute(
        "INSERT INTO recs_history SELECT ?, user_id, item_id, count(*), max(ts) / 86400000.0, count(*) FROM ev "
        "GROUP BY user_id, item_id",
        (store,),
    )
    conn.commit()
    n_rows = conn.execute("SELECT count(*) FROM recs_history").fetchone()[0]
    conn.close()
    return {"db": str(path), "store": store, "products": spec.products, "events": spec.n_events, "history_rows": n_rows}


def load_events(db: Path, store: str, path: Path, *, skip: int = 0, payload_id: str = "bulk-load") -> dict[str, Any]:
    """Purchase events of an NDJSON file (after its first ``skip`` lines) written into a D1 SQLite file as the edge's
    ``/v1/events`` leaves them (edge/events/apply.ts): each id in ``event_ids``, one ``recs_history`` upsert per
    (user, item) — n and qty + the count, last_day the later — and the store's ``event_count``. For a store far
    larger than the API can be fed in a benchmark's time; the database must not be open in ``wrangler dev``. The ids
    must be new: a file holding an id already recorded is refused whole (duplicates go through the API's dedupe)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "CREATE TEMP TABLE ev (event_id TEXT NOT NULL, user_id TEXT NOT NULL, item_id TEXT NOT NULL, ts INTEGER NOT NULL)"
        )

        def rows() -> Iterator[tuple[Any, ...]]:
            with path.open() as f:
                for k, line in enumerate(f):
                    if k < skip or not line.strip():
                        continue
                    e = json.loads(line)
                    if e.get("type", "purchase") != "purchase" or not e.get("user"):
                        raise ValueError(f"line {k + 1}: only purchase events with a user are bulk-loaded")
                    yield (e["eventId"], e["user"], e["productId"], int(e["ts"]))

        for batch in _batches(rows()):
            conn.executemany("INSERT INTO ev VALUES (?,?,?,?)", batch)
        n = conn.execute("SELECT count(*) FROM ev").fetchone()[0]
        now_s = int(time.time())
        cur = conn.execute(
            "INSERT INTO event_ids (store, event_id, seen_at, payload_id, user_id) "
            "SELECT ?, event_id, ?, ?, user_id FROM ev WHERE 1 ON CONFLICT (store, event_id) DO NOTHING",
            (store, now_s, payload_id),
        )
        if cur.rowcount != n:
            conn.rollback()
            raise ValueError(f"{n - cur.rowcount} of {n} event ids are already recorded: send those through the API")
        conn.execute(
            "INSERT INTO recs_history (store, user_id, item_id, n, last_day, qty) "
            "SELECT ?, user_id, item_id, count(*), max(ts) / 86400000.0, count(*) FROM ev WHERE 1 "
            "GROUP BY user_id, item_id "
            "ON CONFLICT (store, user_id, item_id) DO UPDATE SET n = n + excluded.n, qty = qty + excluded.qty, "
            "last_day = max(last_day, excluded.last_day)",
            (store,),
        )
        conn.execute("UPDATE stores SET event_count = event_count + ? WHERE id = ?", (n, store))
        conn.commit()
        rows_now = conn.execute("SELECT count(*) FROM recs_history WHERE store = ?", (store,)).fetchone()[0]
    finally:
        conn.close()
    return {"db": str(db), "store": store, "events": n, "history_rows": rows_now}


def _batches(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def rss_bytes() -> int:
    """This process's resident set now (Linux ``/proc/self/statm``; elsewhere its peak so far, from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class StepTimer:
    """Wall seconds and peak RSS (MB) of named steps, sampled by a background thread."""

    def __init__(self, interval_s: float = 0.02, progress: Callable[[str], None] | None = None) -> None:
        self.steps: list[dict[str, Any]] = []
        self._progress = progress
        self._interval = interval_s

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        peak = [rss_bytes()]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(self._interval):
                peak[0] = max(peak[0], rss_bytes())

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            wall = time.perf_counter() - t0
            stop.set()
            t.join()
            peak[0] = max(peak[0], rss_bytes())
            self.steps.append({"step": name, "wall_s": round(wall, 2), "peak_rss_mb": round(peak[0] / 2**20, 1)})
            if self._progress:
                self._progress(json.dumps(self.steps[-1]))


def time_store(db: Path, store: str, *, reduced: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """``pipeline recs --store``'s steps on ``db``, each timed, against a scratch registry (nothing is registered
    in the shipped one, nothing is loaded into D1)."""
    import numpy as np

    from . import store_data, store_train
    from .ranker import fit_ranker, ranked_lists, training_lists
    from .sequence import train as train_seq
    from .sources import fit_tables
    from .train import configs, set_threads
    from .train import log as train_log

    set_threads()
    timer = StepTimer(progress=train_log)
    rc, qc, sc = configs(reduced)
    t0 = time.perf_counter()
    with timer.step("read D1 rows"):
        export, _ = store_data.export_store(store, db=db)
    with timer.step("interactions"):
        data = store_data.to_interactions(export)
        split = store_train.split_of(data)
    store_train.check_size(data, split)  # what `pipeline recs --store` refuses, refused here (TooSmall)
    with timer.step("ranker lists (sources per label window)"):
        lists = training_lists(data.inter.before(split.cut), split.cut, rc, sc)
    with timer.step("ranker fit"):
        ranker = fit_ranker(lists, rc)
    with timer.step("tables (co-purchase, content, ALS)"):
        fit_tables(data.inter, split.end, sc)
    with timer.step("sequence model"):
        train_seq(data.inter, split.cut, qc, ranked_lists(lists, rc, ranker))
    summary = export.summary()
    out = {
        "store": store,
        "db": str(db),
        "purchases": summary["purchases"],
        "customers": summary["customers"],
        "products": summary["products"],
        "history_rows": len(export.history),
        "training_lists": len(lists),
        "reduced": reduced,
        "steps": timer.steps,
        "wall_s": round(time.perf_counter() - t0, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "n_features_mean": float(np.mean([l.x.shape[0] for l in lists])) if lists else 0.0,
    }
    log(json.dumps(out))
    return out
