"""The admin tokens the release, rollback and retrain commands call the edge and the GPU tiers with (one lookup)."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import REPO, Settings

MISSING = "no admin token: set VITRINE_ADMIN_TOKEN or ADMIN_TOKEN in .dev.vars"


@dataclass(frozen=True)
class AdminTokens:
    edge: str  # the edge's ADMIN_TOKEN (Bearer of /admin/*)
    gpu: str  # the GPU tiers' POST /models/load token (VITRINE_GPU_ADMIN_TOKEN, else the edge's)


def dev_var(name: str) -> str | None:
    """``name``'s value in <repo>/.dev.vars (wrangler dev's secrets), None when absent or empty."""
    p = REPO / ".dev.vars"
    if not p.is_file():
        return None
    for line in p.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"') or None
    return None


def admin_tokens(settings: Settings | None = None) -> AdminTokens | None:
    """VITRINE_ADMIN_TOKEN, else .dev.vars' ADMIN_TOKEN; None when neither is set (the caller says ``MISSING``)."""
    s = settings or Settings()
    edge = s.admin_token or dev_var("ADMIN_TOKEN")
    if not edge:
        return None
    return AdminTokens(edge, s.gpu_admin_token or edge)
