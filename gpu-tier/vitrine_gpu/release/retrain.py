"""`python -m vitrine_gpu retrain --store S` (npm run retrain): one store's scheduled retraining through the release
gate — export → train → gate → canary for each of the store's model kinds, the outcome recorded.

1. **Export** — the store's D1 rows are read from the local D1 (as `pipeline recs --store`), from
   `--from-export FILE.sql`, or, with `--remote`, from a fresh `wrangler d1 export --remote` of its three tables.
   The shipped recommendation store (online-retail) trains on its transactions file plus every purchase D1 holds
   since (`recs.shipped_store`); the search models (store esci) train from the ESCI judged queries.
2. **Train** — one training run per store: `pipeline recs --store` (both recs kinds at once, a time split: the last
   30 days held out for the gate) for the recommendation kinds; the release command's own build
   (`release.run.build`, next seed, production's configuration) for the search kinds. Registering never changes
   production. No purchase since production was trained (the same D1 rows; for the shipped store none since its
   file): outcome ``unchanged``, exit 1, nothing gated.
3. **Gate + canary** — `release --version <candidate> --yes` per kind: the offline gate against the store's
   production; a refusal is recorded at the edge (`POST /admin/releases` status refused: the edge raises the notice
   `release-refused:<store>:<kind>`, severity notice, never a page) and production is untouched; a pass deploys and
   runs the edge's canary, which promotes or rolls back.
4. **Record** — `<registry>/retrains/<stamp>-<store>.json`: per kind the candidate, production before and after, the
   outcome, the edge's release id, status and gate decision as `GET /admin/releases` shows them.

Kinds: `--kind` (repeatable), else the store's own: light + heavy for the search store (`esci`), recs-light +
recs-heavy for any other. Exit: 0 every kind promoted, 1 some refused (production untouched), 2 some rolled back or
aborted, 3 a usage, training or API error (the worst wins).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import subprocess
import time
import tomllib
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from .. import paths, registry
from ..recs.shipped_store import NoNewPurchases
from ..recs.store_data import DATABASE, TABLES, WRANGLER_ENV, StoreDataError, _wrangler, export_store
from ..recs.store_train import TooSmall
from ..settings import REPO
from .http import EdgeAdmin, HttpError
from .recs_gate import production_of
from .run import EXIT_ERROR, EXIT_PROMOTED, EXIT_REFUSED, EXIT_ROLLED_BACK, build
from .tokens import MISSING, admin_tokens

SEARCH_STORE = "esci"  # the store the search models are trained for (ESCI judged queries)
OUTCOME = {EXIT_PROMOTED: "promoted", EXIT_REFUSED: "refused", EXIT_ROLLED_BACK: "rolled_back", EXIT_ERROR: "error"}
SEVERITY = {EXIT_PROMOTED: 0, EXIT_REFUSED: 1, EXIT_ROLLED_BACK: 2, EXIT_ERROR: 3}


def say(msg: str) -> None:
    print(f"[retrain] {msg}", flush=True)


def default_kinds(store: str) -> list[str]:
    """The model kinds a store serves: the search store's light + heavy rankers, every other store's recommendation
    models (search models are store-agnostic: README "Per-store models")."""
    return ["light", "heavy"] if store == SEARCH_STORE else ["recs-light", "recs-heavy"]


def production(kind: str, store: str) -> str | None:
    if kind in ("recs-light", "recs-heavy"):
        return production_of(kind, store)
    return registry.read_current().get(kind) or None


def catalog_shards(config: Path = REPO / "wrangler.toml") -> tuple[set[str], list[str]]:
    """wrangler.toml's sharded stores (vars.CATALOG_SHARDED_STORES) and its shard databases' names
    (CATALOG_SHARD_1, _2, … in order, up to the first missing: the edge's edge/catalog/shards.ts)."""
    conf = tomllib.loads(config.read_text(encoding="utf-8"))
    stores = {s.strip() for s in str(conf.get("vars", {}).get("CATALOG_SHARDED_STORES", "")).split(",") if s.strip()}
    by_binding = {d.get("binding"): d.get("database_name") for d in conf.get("d1_databases", [])}
    names: list[str] = []
    while (name := by_binding.get(f"CATALOG_SHARD_{len(names) + 1}")) is not None:
        names.append(str(name))
    return stores, names


def export_remote(
    store: str, out_dir: Path, runner: Any = subprocess.run, config: Path = REPO / "wrangler.toml"
) -> Path:
    """`wrangler d1 export <db> --remote` of the store's tables (D1 refuses a whole export with FTS5 tables); for a
    sharded store also each shard database's products, beside it as ``<stem>.shard<n>.sql`` (what
    ``store_data.export_store`` reads with the dump)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{store}-{time.strftime('%Y%m%d%H%M%S')}.sql"
    tables = [a for t in TABLES for a in ("--table", t)]
    sharded, shard_dbs = catalog_shards(config)
    jobs = [(DATABASE, tables, out)]
    if store in sharded:
        jobs += [
            (db, ["--table", "products"], out.with_name(f"{out.stem}.shard{n}.sql"))
            for n, db in enumerate(shard_dbs, 1)
        ]
    for database, what, dest in jobs:
        cmd = [*_wrangler(), "d1", "export", database, "--remote", *what, "--output", str(dest)]
        say(f"export: {' '.join(cmd[1:])}")
        res = runner(cmd, cwd=REPO, env={**os.environ, **WRANGLER_ENV}, capture_output=True, text=True)
        if res.returncode != 0:
            raise StoreDataError(f"wrangler d1 export failed ({res.returncode}): {(res.stderr or res.stdout)[-2000:]}")
    return out


def check_new_rows(store: str, a: argparse.Namespace) -> None:
    """Raises NoNewPurchases when the store's D1 rows are those its production recs-light was trained on."""
    prod = production("recs-light", store)
    if not prod:
        return
    man = registry.read_manifest("recs-light", prod)
    if man.get("source") != "d1":
        return  # a file-trained production (the shipped store): shipped_store says whether anything is new
    exp, _ = export_store(store, db=a.db, from_export=a.from_export)
    if exp.data_hash() == man.get("data_hash"):
        raise NoNewPurchases(
            f"store {store!r}: no purchase since production {prod} was trained (the same D1 rows, data hash "
            f"{exp.data_hash()[:12]}…): nothing new to train on"
        )


def train(store: str, kinds: list[str], a: argparse.Namespace) -> dict[str, str]:
    """One training run for the store: its candidates by kind (registered, not selected). The recommendation kinds
    of every store — the shipped one included: its file plus its purchases since (`recs.shipped_store`) — train
    from the store's D1 rows."""
    out: dict[str, str] = {}
    d1_kinds = [k for k in kinds if k in ("recs-light", "recs-heavy")]
    if d1_kinds:
        from ..pipeline import steps

        check_new_rows(store, a)
        prod = production("recs-light", store)
        reduced = a.reduced or bool(prod and registry.read_manifest("recs-light", prod).get("reduced"))
        say(f"train: {store}'s recommendation models from its D1 rows ({'reduced' if reduced else 'full'})")
        res = steps.recs_store(store, db=a.db, from_export=a.from_export, force=True, reduced=reduced)
        out.update({k: str(res[k.replace("-", "_")]) for k in d1_kinds})
    for kind in kinds:
        if kind not in out:
            say(f"train: {kind}")
            out[kind] = build(kind, production(kind, store))
    return out


def release_argv(kind: str, version: str, a: argparse.Namespace, started_by: str) -> list[str]:
    argv = ["release", "--kind", kind, "--store", a.store, "--version", version, "--yes", "--started-by", started_by]
    argv += ["--edge", a.edge, "--gpu", a.gpu, "--steps", a.steps, "--step-seconds", str(a.step_seconds)]
    if a.margin is not None:
        argv += ["--margin", str(a.margin)]
    if a.with_load:
        argv.append("--with-load")
    if a.timeout:
        argv += ["--timeout", str(a.timeout)]
    if kind in ("recs-light", "recs-heavy"):
        if a.db is not None:
            argv += ["--db", str(a.db)]
        if a.from_export is not None:
            argv += ["--from-export", str(a.from_export)]
    return argv


def edge_record(edge: EdgeAdmin, kind: str, store: str, version: str, since_ms: int) -> dict[str, Any] | None:
    """The edge's release record of this candidate (GET /admin/releases, newest first): what an operator sees."""
    try:
        rows = edge.list(50).get("releases", [])
    except (HttpError, OSError) as exc:
        say(f"could not read {edge.base}/admin/releases: {exc}")
        return None
    for r in rows:
        if (r.get("kind"), r.get("store"), r.get("version")) == (kind, store, version) and r.get(
            "createdAt", 0
        ) >= since_ms:
            gate = r.get("gateReport") or {}
            return {
                "id": r.get("id"),
                "status": r.get("status"),
                "gate": gate.get("decision"),
                "gateReason": gate.get("reason"),
                "reason": r.get("reason"),
            }
    return None


def load_secrets(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """In the scheduled job (infra/sagemaker/retrain_schedule.py): the Secrets Manager secret named by
    VITRINE_SECRETS_ARN, a JSON object of environment variables (VITRINE_ADMIN_TOKEN, CLOUDFLARE_API_TOKEN,
    CLOUDFLARE_ACCOUNT_ID), set where not already set. Returns the names set."""
    env: MutableMapping[str, str] = os.environ if environ is None else environ
    arn = env.get("VITRINE_SECRETS_ARN")
    if not arn:
        return []
    import boto3

    values = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    added = [k for k, v in values.items() if isinstance(v, str) and not env.get(k)]
    for k in added:
        env[k] = values[k]
    return added


def run(a: argparse.Namespace) -> int:
    """The retrain command (its arguments: cli.py `retrain`)."""
    from ..cli import main as cli_main

    if added := load_secrets():
        say(f"secrets from VITRINE_SECRETS_ARN: {', '.join(sorted(added))}")
    tokens = admin_tokens()
    if tokens is None:
        say(MISSING)
        return EXIT_ERROR
    kinds = a.kind or default_kinds(a.store)
    edge = EdgeAdmin(a.edge, tokens.edge)
    started_by = f"retrain {getpass.getuser()}@{socket.gethostname()}"
    started = time.time()
    record: dict[str, Any] = {"store": a.store, "kinds": kinds, "startedAt": started, "startedBy": started_by}
    prods = ", ".join(f"{k} (production {production(k, a.store) or 'none'})" for k in kinds)
    say(f"{a.store}: {prods}")
    try:
        if a.remote:
            a.from_export = export_remote(a.store, paths.STATE / "exports")
        candidates = train(a.store, kinds, a)
    except NoNewPurchases as exc:  # production untouched, nothing recorded at the edge: no candidate exists
        say(f"unchanged: {exc}")
        record.update(outcome="unchanged", reason=str(exc), finishedAt=time.time())
        say(f"recorded in {write_record(record)}")
        return EXIT_REFUSED
    except (TooSmall, StoreDataError, RuntimeError, OSError) as exc:
        say(f"cannot train a candidate: {exc}")
        record.update(outcome="error", error=str(exc))
        write_record(record)
        return EXIT_ERROR
    results: list[dict[str, Any]] = []
    codes: list[int] = []
    for kind in kinds:
        before = production(kind, a.store)
        since_ms = int(time.time() * 1000)
        say(f"gate + canary: {kind} {candidates[kind]} against {before or '(none)'}")
        code = cli_main(release_argv(kind, candidates[kind], a, started_by))
        codes.append(code)
        results.append(
            {
                "kind": kind,
                "candidate": candidates[kind],
                "productionBefore": before,
                "productionAfter": production(kind, a.store),
                "outcome": OUTCOME.get(code, "error"),
                "exit": code,
                "release": edge_record(edge, kind, a.store, candidates[kind], since_ms),
            }
        )
    worst = max(codes, key=lambda c: SEVERITY.get(c, 3))
    record.update(results=results, finishedAt=time.time(), outcome=OUTCOME.get(worst, "error"))
    where = write_record(record)
    for r in results:
        rel = r["release"] or {}
        say(
            f"{r['kind']}: {r['outcome']} — {r['candidate']} (gate {rel.get('gate', '?')}, release {rel.get('id', '?')}); "
            f"production {r['productionBefore'] or 'none'} → {r['productionAfter'] or 'none'}"
        )
    say(f"recorded in {where}")
    return worst


def write_record(record: dict[str, Any]) -> Path:
    out = registry.registry_dir() / "retrains"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{time.strftime('%Y%m%d%H%M%S', time.gmtime(record['startedAt']))}-{record['store']}.json"
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path
