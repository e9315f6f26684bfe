"""`python -m vitrine_gpu release` (npm run release) --kind light|heavy|recs-light|recs-heavy [--store S]
[--version V | --from-dir DIR] [--steps 10,25,50,100] [--step-seconds 60] [--with-load] [--yes] [--edge URL]
[--gpu URL,URL] [--margin M] [--db FILE | --from-export FILE.sql]

Recs kinds are per store: ``--store`` (default online-retail, the shipped store) names whose production the candidate
is judged against (``recs_gate.production_of``) and whose experiment the canary joins; a store other than the
shipped one builds its candidate with ``pipeline recs --store`` and is judged on its D1 rows (``--db`` /
``--from-export`` as the pipeline reads them).

build (or import, or take a registered version) → offline gate → deploy → canary through the edge's admin API →
exit 0 on promotion; 1 when refused (import, gate or deploy), 2 on rollback or abort, 3 on a usage or API error.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import math
import socket
import time
from typing import Any

from .. import registry
from ..pipeline import steps
from ..pipeline.export import export_edge
from ..recs.d1 import tables_sql_statements
from ..recs.store_data import DATABASE, StoreDataError, count_rows, find_local_d1, load_sql
from ..recs.store_train import TooSmall, store_sql_dir
from ..search import catalog
from ..search.catalog import write_sql
from ..search.heavy.train import HeavyConfig, load_pools, register_trained, train_heavy
from ..search.light.train import LightConfig
from .gate import run_gate
from .http import EdgeAdmin, GpuAdmin, HttpError
from .importer import ImportRefused, import_dir
from .recs_gate import RECS_STORE, gate_data, production_of
from .tokens import MISSING, admin_tokens
from .traffic import LoadDriver

EXIT_PROMOTED, EXIT_REFUSED, EXIT_ROLLED_BACK, EXIT_ERROR = 0, 1, 2, 3
SURFACE = {"light": "search", "heavy": "search", "recs-light": "recommend", "recs-heavy": "recommend"}
FINAL = ("promoted", "rolled_back", "aborted", "refused")


def say(msg: str) -> None:
    print(f"[release] {msg}", flush=True)


# -- build -----------------------------------------------------------------------------------------------------
def per_store(kind: str, store: str, version: str | None = None) -> bool:
    """Whether `kind` in `store` is a per-store model (trained from the store's D1 rows): recs kinds of any store but
    the shipped one, and a shipped-store `version` retrained from D1 (manifest source "d1": `npm run retrain`); the
    shipped store's other versions come from its transactions file (current.json's)."""
    if kind not in ("recs-light", "recs-heavy"):
        return False
    if store != RECS_STORE:
        return True
    return bool(version) and registry.read_manifest(kind, str(version)).get("source") == "d1"


def build(kind: str, production: str | None, a: argparse.Namespace | None = None) -> str:
    """A newly trained version of `kind` (registered, not selected): the pipeline's training with the next seed, in
    the production version's configuration (reduced or full); a per-store recs kind: `pipeline recs --store`."""
    if a is not None and per_store(kind, a.store):
        reduced = bool(production and registry.read_manifest(kind, production).get("reduced"))
        say(f"training {a.store}'s recommendation models from its D1 rows ({'reduced' if reduced else 'full'})")
        res = steps.recs_store(a.store, db=a.db, from_export=a.from_export, force=True, reduced=reduced)
        return str(res[kind.replace("-", "_")])
    reg_before = registry.read_current()
    seed = len(registry.list_versions(kind))
    reduced = bool(production and registry.read_manifest(kind, production).get("reduced"))
    try:
        if kind == "heavy":
            config = dataclasses.replace(HeavyConfig.auto(reduced), seed=seed)
            say(f"training a heavy model (seed {seed}, {'reduced' if reduced else 'full'} configuration)")
            pools, source = load_pools()
            version = register_trained(train_heavy(None, config, pools=pools), reduced, source)["version"]
        elif kind == "light":
            say(f"training a light model (seed {seed})")
            src = catalog.read_source()
            version, _ = steps.train_and_register_light(
                LightConfig(seed=seed), 3 if reduced else 5, data_hash=src["sha256"], progress=False
            )
        else:
            version = steps.STEPS[kind.replace("recs-", "train-recs-")](force=True, reduced=reduced)["version"]
    finally:  # training registers and selects; a release selects only on promotion
        for k, v in reg_before.items():
            if registry.read_current().get(k) != v:
                registry.set_current_version(k, v)
    return version


# -- deploy ----------------------------------------------------------------------------------------------------
def deploy(kind: str, version: str, a: argparse.Namespace, edge: EdgeAdmin, gpu_token: str | None) -> None:
    """Make `version` servable before any traffic is routed to it; raises RuntimeError with the reason."""
    if kind in ("heavy", "recs-heavy"):
        for url in [u for u in a.gpu.split(",") if u.strip()]:
            try:
                out = GpuAdmin(url, gpu_token).load(kind, version)
            except (HttpError, OSError) as exc:
                raise RuntimeError(f"gpu-tier {url} could not load {version}: {exc}") from exc
            say(f"gpu-tier {url}: loaded {version} in {out.get('loadedMs')} ms (held: {', '.join(out['loaded'])})")
            wait_warm(GpuAdmin(url, gpu_token), version, a.warmup_timeout)
    elif kind == "light":
        res = export_edge()
        if version not in res["bundled"]:
            raise RuntimeError(f"{version} is not among the bundled light models {res['bundled']}")
        say(f"exported {res['models_js']} (bundled: {', '.join(res['bundled'])}); waiting for the edge to reload")
        wait_bundled(edge, version, a.edge)
    else:  # recs-light: the ranker ships in the worker bundle (like the search light model), its tables in D1
        if per_store(kind, a.store, version):
            ensure_store_tables(version, a)
        res = export_edge(extra_recs=[version])
        if version not in res["recs_bundled"]:
            raise RuntimeError(f"{version} is not among the bundled recs-light models {res['recs_bundled']}")
        say(f"exported {res['models_js']} (recs-light bundled: {', '.join(res['recs_bundled'])}); waiting for the edge")
        wait_bundled(edge, version, a.edge)


def wait_bundled(edge: EdgeAdmin, version: str, url: str, timeout: float = 180) -> None:
    """Until the edge's /healthz lists `version` among its bundled light models (wrangler dev reloads on the new
    models.js; in production `npm run deploy`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if version in json.dumps(edge.health().get("models", {}).get("light", [])):
                say(f"edge serves {version}")
                return
        except (HttpError, OSError):
            pass
        time.sleep(2)
    raise RuntimeError(f"the edge at {url} did not pick up {version} within {timeout:.0f} s (is wrangler dev running?)")


def ensure_store_tables(version: str, a: argparse.Namespace) -> None:
    """A per-store recs-light version's rows must be in the store's D1 before its promotion points recs_current at
    them: loaded into the local database when missing there; with a remote dump, the command is printed."""
    if a.from_export is not None:
        say(
            f"make sure {version}'s tables are in the remote database before the promotion: "
            f"`npx wrangler d1 execute {DATABASE} --remote --file <recs.sql of {version}>` (pipeline recs wrote it)"
        )
        return
    db_file = a.db or find_local_d1(a.store)
    if count_rows(db_file, a.store, version) > 0:
        return
    tables = json.loads((registry.version_dir("recs-light", version) / "tables.json").read_text())
    sql = store_sql_dir(a.store) / f"{version}.sql"
    write_sql(sql, tables_sql_statements(tables, a.store, version, history=False, current=False))
    how = load_sql(sql, db_file, a.store, version, len(tables["items"]), log=say)
    say(f"loaded {version}'s tables for {a.store} into {db_file} ({how})")


def wait_warm(gpu: GpuAdmin, version: str, timeout: float) -> None:
    """Waits until the tier's term-cache precompute of `version` has ended (bounded): a canary that starts on a cold
    cache is slower than the baseline for reasons that vanish minutes later, and the latency guardrail would roll a
    good model back."""
    if timeout <= 0:
        return
    deadline, last = time.monotonic() + timeout, 0.0
    while True:
        try:
            g = gpu.warmup(version)
        except (HttpError, OSError) as exc:
            say(f"warning: gpu-tier {gpu.base}: no precompute gauges ({exc}); not waiting for warm-up")
            return
        total, done = g.get("total", 0.0), g.get("done", 0.0)
        if total == 0 or g.get("finished", 0.0) >= 1:
            if total:
                say(f"gpu-tier {gpu.base}: {version} warm ({done:.0f}/{total:.0f} products precomputed)")
            return
        if time.monotonic() > deadline:
            say(
                f"warning: gpu-tier {gpu.base}: {version} precompute at {done:.0f}/{total:.0f} after {timeout:.0f} s; going on"
            )
            return
        if time.monotonic() - last >= 10:
            say(f"gpu-tier {gpu.base}: warming {version}: {done:.0f}/{total:.0f} products precomputed")
            last = time.monotonic()
        time.sleep(1)


def promote_locally(kind: str, version: str, a: argparse.Namespace, gpu_token: str | None) -> None:
    """After the edge promoted: current.json names the version (restarts and the next export serve it) and each
    GPU tier serves it to requests that name no version; a per-store version becomes its store's production in
    stores.json instead."""
    if per_store(kind, a.store, version):
        # the store's production (stores.json); current.json (the shipped defaults) and the GPU tiers' default stay:
        # the store's experiment names the version, which the tiers load by name
        registry.set_store_current(a.store, kind, version)
        if kind == "recs-light":
            export_edge()
        return
    registry.set_current_version(kind, version)
    if kind in ("recs-light", "recs-heavy") and registry.clear_store_current(a.store, kind):
        say(f"{a.store}'s {kind} production is current.json's {version} again (its stores.json entry dropped)")
    if kind in ("heavy", "recs-heavy"):
        for url in [u for u in a.gpu.split(",") if u.strip()]:
            try:
                GpuAdmin(url, gpu_token).load(kind, version, default=True)
            except (HttpError, OSError) as exc:
                say(f"warning: gpu-tier {url} did not take {version} as its default: {exc}")
    elif kind in ("light", "recs-light"):
        export_edge()


# -- canary ----------------------------------------------------------------------------------------------------
def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if math.isfinite(v) else str(v)
    return "-" if v is None else str(v)


def figures_line(f: Any) -> str:
    """The live figures of a tick (edge/releases/analysis.ts StepFigures), canary/baseline."""
    if not isinstance(f, dict):
        return ""
    parts = []
    req = f.get("requests") or {}
    if req:
        parts.append(f"req {_num(req.get('canary'))}/{_num(req.get('baseline'))} (min {_num(f.get('minRequests'))})")
    for key, label in (("errorRate", "5xx"), ("degradedRate", "degraded")):
        r = f.get(key) or {}
        if r:
            parts.append(f"{label} {_num(r.get('canary'))}/{_num(r.get('baseline'))}")
    p99 = (f.get("p99") or {}).get("total") or {}
    if p99:
        parts.append(f"p99 {_num(p99.get('canary'))}/{_num(p99.get('baseline'))} ms (limit {_num(p99.get('limit'))})")
    srm = f.get("srm") or {}
    if srm.get("p") is not None:
        parts.append(f"srm p={_num(srm.get('p'))}")
    return " · ".join(parts)


def _pct(w: Any) -> str:
    if isinstance(w, (int, float)):
        return f"{w:>3g}%"
    return "    -%"


def bar(done: float, width: int = 24) -> str:
    n = max(0, min(width, round(done * width)))
    return "#" * n + "-" * (width - n)


def drive_canary(edge: EdgeAdmin, rid: str, a: argparse.Namespace, load: Any) -> dict[str, Any]:
    """Tick every stepSeconds/3 until the release ends; a progress line per tick. Returns the final release."""
    steps, step_s = a.step_list, a.step_seconds
    limit = a.timeout or (len(steps) * step_s * 4 + 300)
    started = time.monotonic()
    step_started, last_index = started, -1
    while True:
        time.sleep(max(1.0, step_s / 3))
        try:
            t = edge.tick(rid)
        except (HttpError, OSError) as exc:
            say(f"tick failed: {exc}")
            t = {}
        rel = edge.get(rid)
        idx = int(rel.get("stepIndex", t.get("stepIndex", 0)) or 0)
        if idx != last_index:
            step_started, last_index = time.monotonic(), idx
        status = str(rel.get("status"))
        weight = t.get("weight", rel.get("weight"))
        window = (t.get("figures") or {}).get("window") or {}
        if window.get("stepMs"):
            frac = min(1.0, float(window.get("elapsedMs", 0)) / float(window["stepMs"]))
        else:
            frac = min(1.0, (time.monotonic() - step_started) / step_s)
        reasons = "; ".join(str(x) for x in t.get("reasons") or []) if t.get("decision") != "promote-step" else ""
        traffic = f"  load {load.sent} sent, {load.non2xx} non-2xx" if load else ""
        print(
            f"  step {min(idx + 1, len(steps))}/{len(steps)} [{bar(frac)}] {_pct(weight)}  "
            f"{t.get('decision') or '-'} ({status}){traffic}  {figures_line(t.get('figures'))}"
            + (f"  — {reasons}" if reasons else ""),
            flush=True,
        )
        if status in FINAL:
            return rel
        if time.monotonic() - started > limit:
            say(f"no decision after {limit:.0f} s: aborting the canary")
            edge.abort(rid, f"release CLI gave up after {limit:.0f} s without a decision")
            return edge.get(rid)


def load_rate(first_step: int, step_seconds: int, min_requests: int = 30) -> float:
    """Searches per second that give the canary twice the edge's default minimum volume (RELEASE_MIN_REQUESTS, 30)
    within the first step, bounded to 3..12 (a loopback CPU gpu-tier saturates beyond that)."""
    return min(12.0, max(3.0, 2 * min_requests / (step_seconds * first_step / 100)))


# -- main ------------------------------------------------------------------------------------------------------
def run(a: argparse.Namespace) -> int:
    """The release command (its arguments: cli.py `release`)."""
    tokens = admin_tokens()
    if tokens is None:
        say(MISSING)
        return EXIT_ERROR
    gpu_token = tokens.gpu
    edge = EdgeAdmin(a.edge, tokens.edge)
    kind = a.kind
    recs = kind in ("recs-light", "recs-heavy")
    a.store = a.store or (RECS_STORE if recs else "esci")
    if not recs and (a.db or a.from_export):
        say("--db and --from-export are for the recs kinds (the store's D1 rows)")
        return EXIT_ERROR
    production = production_of(kind, a.store) if recs else (registry.read_current().get(kind) or None)
    started_by = a.started_by or f"release-cli {getpass.getuser()}@{socket.gethostname()}"
    say(f"{kind}: production{f' of {a.store}' if recs else ''} is {production or '(none)'}")

    def refuse(version: str, reason: str, report: dict[str, Any]) -> int:
        say(f"REFUSED: {reason}")
        body = {
            "kind": kind,
            "store": a.store,
            "version": version,
            "steps": a.step_list,
            "stepSeconds": a.step_seconds,
            "gateReport": report,
            "startedBy": started_by,
            "status": "refused",
            "reason": reason[:2000],
            **({"baselineVersion": production} if production else {}),
        }
        try:
            out = edge.create(body)
            say(f"recorded as release {out.get('id')} ({out.get('status')})")
        except (HttpError, OSError) as exc:
            say(f"could not record the refusal at {a.edge}: {exc}")
        return EXIT_REFUSED

    # 1. the candidate
    if a.from_dir is not None:
        label = f"import-{a.from_dir.name}"[:100]
        try:
            candidate = import_dir(kind, a.from_dir)
        except ImportRefused as exc:
            return refuse(label, f"import of {a.from_dir} refused: {exc}", {"decision": "refuse", "stage": "import"})
        say(f"imported {a.from_dir} as {candidate}")
    elif a.version:
        candidate = a.version
        if not (registry.version_dir(kind, candidate) / "manifest.json").is_file():
            say(f"{kind} version {candidate} is not registered")
            return EXIT_ERROR
    else:
        try:
            candidate = build(kind, production, a)
        except (TooSmall, StoreDataError) as exc:
            say(f"cannot build a candidate: {exc}")
            return EXIT_ERROR
        say(f"built {candidate}")
    if candidate == production:
        return refuse(candidate, f"{candidate} is already the production {kind} version", {"decision": "refuse"})

    # 2. the offline gate
    recs_data = None
    if recs:
        try:
            recs_data = gate_data(kind, candidate, a.store, db=a.db, from_export=a.from_export)
        except (StoreDataError, OSError) as exc:
            return refuse(candidate, f"offline gate: cannot read {a.store}'s data: {exc}", {"decision": "refuse"})
    report = run_gate(
        kind, candidate, production, a.margin, max_queries=a.gate_queries, log=say, store=a.store, recs_data=recs_data
    )
    if report.get("decision_table"):
        print(report["decision_table"], flush=True)
    out_dir = registry.registry_dir() / "releases"  # beside the versions it judged
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{int(time.time())}-{candidate}.gate.json").write_text(json.dumps(report, indent=2) + "\n")
    say(f"gate: {report['decision']} — {report['reason']} ({report.get('seconds')} s)")
    if report["decision"] != "pass":
        return refuse(candidate, f"offline gate: {report['reason']}", report)
    if not a.yes and input(f"deploy {candidate} and start the canary at {a.step_list[0]}%? [y/N] ").lower() != "y":
        say("not deployed")
        return EXIT_REFUSED

    # 3. deploy, 4. canary
    try:
        deploy(kind, candidate, a, edge, gpu_token)
    except RuntimeError as exc:
        return refuse(candidate, f"deploy: {exc}", {**report, "deploy": str(exc)})
    body = {
        "kind": kind,
        "store": a.store,
        "version": candidate,
        "steps": a.step_list,
        "stepSeconds": a.step_seconds,
        "gateReport": report,
        "startedBy": started_by,
        **({"baselineVersion": production} if production else {}),
    }
    try:
        created = edge.create(body)
    except (HttpError, OSError) as exc:
        say(f"could not start the canary: {exc}")
        return EXIT_ERROR
    rid = str(created["id"])
    say(f"release {rid}: canary of {candidate} at {a.step_list[0]}% ({SURFACE[kind]}), steps {a.step_list}")
    load = None
    if a.with_load:
        rps = a.load_rps or load_rate(a.step_list[0], a.step_seconds)
        load = LoadDriver(a.edge, rps=rps, store=a.store, surface=SURFACE[kind]).start()
    try:
        final = drive_canary(edge, rid, a, load)
    except KeyboardInterrupt:
        say("interrupted: aborting the canary")
        edge.abort(rid, "aborted by the operator (Ctrl-C)")
        final = edge.get(rid)
    finally:
        if load:
            load.stop()
    status = final.get("status")
    if load:
        say(f"load: {load.sent} requests, {load.non2xx} non-2xx, {load.degraded} degraded ({dict(load.codes)})")
    if status == "promoted":
        promote_locally(kind, candidate, a, gpu_token)
        scope = f"{a.store}'s" if recs else "the"
        say(f"PROMOTED {candidate}: {scope} {SURFACE[kind]} default {kind} model")
        return EXIT_PROMOTED
    say(f"{str(status).upper()}: {final.get('reason') or 'no reason recorded'}")
    return EXIT_ROLLED_BACK
