"""`npm run release -- rollback --kind light|heavy|recs-light|recs-heavy [--store S] [--surface search|recommend]
[--reason TEXT] [--edge URL] [--gpu URL,URL]`: the previous production version back at once, after a promotion.

The edge decides and records it (POST /admin/releases/rollback: a release of its own, status promoted, with the
reason; 409 when there is no previous version, a canary runs, or an experiment changed the surface since). Then,
as after a promotion, the local side follows: current.json (or the store's stores.json entry) names the restored
version, each GPU tier serves it as its default (heavy kinds), the worker bundle is re-exported (light kinds).
Exit 0 when rolled back, 1 when the edge refused, 3 on a usage or API error.
"""

from __future__ import annotations

import argparse
import getpass
import socket

from .http import EdgeAdmin, HttpError
from .recs_gate import RECS_STORE
from .run import EXIT_ERROR, EXIT_PROMOTED, EXIT_REFUSED, SURFACE, promote_locally, say
from .tokens import MISSING, admin_tokens

REFUSALS = (404, 409, 422)


def rollback_body(a: argparse.Namespace, started_by: str) -> dict[str, object]:
    """The POST /admin/releases/rollback body the command line asks for."""
    return {
        "store": a.store,
        "kind": a.kind,
        "surface": a.surface or SURFACE[a.kind],
        "reason": a.reason,
        "startedBy": started_by,
    }


def run(a: argparse.Namespace) -> int:
    tokens = admin_tokens()
    if tokens is None:
        say(MISSING)
        return EXIT_ERROR
    if a.surface and a.surface != SURFACE[a.kind]:
        say(f"--kind {a.kind} serves {SURFACE[a.kind]}, not {a.surface}")
        return EXIT_ERROR
    a.store = a.store or (RECS_STORE if a.kind in ("recs-light", "recs-heavy") else "esci")
    started_by = f"release-cli {getpass.getuser()}@{socket.gethostname()}"
    try:
        out = EdgeAdmin(a.edge, tokens.edge).rollback(rollback_body(a, started_by))
    except HttpError as exc:
        if exc.status in REFUSALS:
            body = exc.body if isinstance(exc.body, dict) else {}
            say(f"REFUSED ({body.get('error', exc.status)}): {body.get('message', exc)}")
            return EXIT_REFUSED
        say(f"rollback failed: {exc}")
        return EXIT_ERROR
    except OSError as exc:
        say(f"cannot reach the edge at {a.edge}: {exc}")
        return EXIT_ERROR
    say(
        f"ROLLED BACK {a.kind} on {SURFACE[a.kind]} of {a.store}: {out['from']} → {out['to']} "
        f"(release {out['id']}: {out.get('reason')})"
    )
    try:
        promote_locally(a.kind, str(out["to"]), a, tokens.gpu)
    except FileNotFoundError as exc:  # the edge serves it; the local registry no longer holds it
        say(f"warning: {exc}; current.json left as it was")
    return EXIT_PROMOTED
