"""`{"task": "recommend"}`: the request schema and the batcher-facing scorer over a `recs-heavy` sequence model.

A recommend request is one user: their item sequence and the candidates to score. Each candidate becomes one batcher
pair `(request key, {"sequence", "now", "candidate"})`; `RecsScorer.score_batch` regroups consecutive pairs of the
same request and scores all of a batch's users in one `SeqRecModel.score_batch` forward. Unknown item ids (in the
sequence or the candidates) score as cold items (the model's padding/unknown embedding), never an error.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_SEQUENCE = 1000  # events accepted per request (the model reads the last `max_len`, 50 by default)
MAX_CANDIDATES = 300  # the edge merges to <= 300 candidates and sends its light top M
MAX_ID_CHARS = 64


class RecEvent(BaseModel):
    """One purchase in the user's history: the item id and either `ts` (days since 1970-01-01) or `age` (days
    before `now`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    ts: float | None = None
    age: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_time(self) -> RecEvent:
        if (self.ts is None) == (self.age is None):
            raise ValueError("each sequence event needs exactly one of ts (days since epoch) or age (days before now)")
        return self


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    task: Literal["recommend"]
    store: str | None = Field(default=None, min_length=1, max_length=64)
    sequence: list[RecEvent] = Field(default_factory=list, max_length=MAX_SEQUENCE)
    candidates: list[str] = Field(min_length=1, max_length=MAX_CANDIDATES)
    now: float | None = None
    model: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _check(self) -> RecommendRequest:
        bad = next((i for i, c in enumerate(self.candidates) if not c or len(c) > MAX_ID_CHARS), None)
        if bad is not None:
            raise ValueError(f"candidates[{bad}]: ids are 1..{MAX_ID_CHARS} characters")
        has_ts = any(e.ts is not None for e in self.sequence)
        has_age = any(e.age is not None for e in self.sequence)
        if has_ts and has_age and self.now is None:
            raise ValueError("now is required when the sequence mixes ts and age")
        return self

    def events(self) -> tuple[list[tuple[str, float]], float | None]:
        """(id, days) events and the reference time; ages become times before `now` (0 when `now` is absent)."""
        now = self.now if self.now is not None else (None if not any(e.age is not None for e in self.sequence) else 0.0)
        out = [(e.id, e.ts if e.ts is not None else (now or 0.0) - (e.age or 0.0)) for e in self.sequence]
        return out, now


class RecsScorer:
    """Adapts `SeqRecModel` to the batcher's `score_batch(pairs)`."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def score_batch(self, pairs: list[tuple[str, dict[str, Any]]]) -> list[float]:
        seqs, cands, nows = [], [], []
        for _key, group in groupby(pairs, key=lambda p: p[0]):
            items = [d for _, d in group]
            seqs.append(items[0]["sequence"])
            nows.append(items[0]["now"])
            cands.append([d["candidate"] for d in items])
        out = self.model.score_batch(seqs, cands, nows)
        return [float(x) for row in out for x in row]


def request_pairs(key: str, req: RecommendRequest) -> list[tuple[str, dict[str, Any]]]:
    sequence, now = req.events()
    return [(key, {"sequence": sequence, "now": now, "candidate": c}) for c in req.candidates]
