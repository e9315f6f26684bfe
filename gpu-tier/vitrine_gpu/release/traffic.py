"""``--with-load``: bounded loopback traffic during the canary so each step has volume (distinct users, so the sticky
hash spreads them over both arms), in the release's store and surface (experiments are per store and surface:
another store's requests never reach its canary): searches for light/heavy, ``GET /v1/recommend`` for the recs
kinds. Counts answers by status; a non-2xx is printed in the summary."""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from ..search import catalog

FALLBACK_QUERIES = ("belt", "water bottle", "shoes", "phone case", "lamp", "headphones", "backpack", "mug")


def catalog_queries(limit: int = 200) -> list[str]:
    try:
        ds = catalog.dataset_from_source()
        qs = [q for q in catalog.read_queries(ds.queries).values() if q.strip()]
        return qs[:limit] or list(FALLBACK_QUERIES)
    except Exception:  # noqa: BLE001 - no prepared catalogue: generic queries
        return list(FALLBACK_QUERIES)


class LoadDriver:
    def __init__(
        self,
        edge: str,
        rps: float = 8.0,
        concurrency: int = 4,
        queries: list[str] | None = None,
        store: str | None = None,
        surface: str = "search",
    ) -> None:
        self.edge, self.rps, self.concurrency = edge.rstrip("/"), rps, concurrency
        self.surface = surface
        self.store = f"&store={urllib.parse.quote_plus(store)}" if store else ""
        self.queries = queries or (catalog_queries() if surface == "search" else ["-"])
        self.codes: Counter[str] = Counter()
        self.degraded = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _one(self, n: int) -> None:
        if self.surface == "recommend":
            url = f"{self.edge}/v1/recommend?user=release-load-{n}&k=20{self.store}"
        else:
            q = urllib.parse.quote_plus(self.queries[n % len(self.queries)])
            url = f"{self.edge}/v1/search?q={q}&user=release-load-{n}{self.store}"
        try:
            with urllib.request.urlopen(url, timeout=60) as res:
                body = res.read()
                self.codes[str(res.status)] += 1
                if b'"degraded":true' in body:
                    self.degraded += 1
        except urllib.error.HTTPError as exc:
            self.codes[str(exc.code)] += 1
        except Exception:  # noqa: BLE001 - a connection failure counts as a failed answer
            self.codes["error"] += 1

    def _run(self) -> None:
        """At most `concurrency` requests in flight: a slow system gets less traffic, never a backlog."""
        slots = threading.BoundedSemaphore(self.concurrency)

        def one(n: int) -> None:
            try:
                self._one(n)
            finally:
                slots.release()

        pool = ThreadPoolExecutor(self.concurrency)
        n = 0
        while not self._stop.is_set():
            if slots.acquire(timeout=0.5):
                pool.submit(one, n)
                n += 1
                self._stop.wait(1.0 / self.rps)
        pool.shutdown(wait=True, cancel_futures=True)

    def start(self) -> LoadDriver:
        self._thread = threading.Thread(target=self._run, name="release-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=20)

    @property
    def sent(self) -> int:
        return sum(self.codes.values())

    @property
    def non2xx(self) -> int:
        return sum(v for k, v in self.codes.items() if not k.startswith("2"))
