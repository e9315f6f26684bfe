"""Consistent copy of a live local D1 state (wrangler dev's SQLite files) with SQLite's online backup API.

Usage: python snapshot.py SRC_D1_DIR DST_D1_DIR
Copies every *.sqlite of SRC_D1_DIR (miniflare's D1 Durable Object files: the database and its metadata) into
DST_D1_DIR. Each copy is one read transaction on the source (backup step -1): a point-in-time image even while
wrangler dev writes, taken under a shared lock only (wrangler dev keeps serving; a writer waits at most the copy).
Prints {"files": {name: bytes}, "ms": elapsed} as JSON.
"""

import json
import sqlite3
import sys
import time
from pathlib import Path


def snapshot(src: Path, dst: Path) -> dict[str, int]:
    dst.mkdir(parents=True, exist_ok=True)
    out: dict[str, int] = {}
    for f in sorted(src.glob("*.sqlite")):
        target = dst / f.name
        for stale in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            stale.unlink(missing_ok=True)
        source = sqlite3.connect(f"file:{f}?mode=ro", uri=True, timeout=30)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        out[f.name] = target.stat().st_size
    if not out:
        raise SystemExit(f"no *.sqlite under {src}: is it a wrangler --persist-to d1 directory?")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    t0 = time.monotonic()
    files = snapshot(Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps({"files": files, "ms": round((time.monotonic() - t0) * 1000)}))
