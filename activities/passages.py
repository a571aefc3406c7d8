"""Writing the trip path from the workflow's passage writes.

Shared by every activity that records where a trip is: each write carries the
idempotency key (trip, seq), so every caller (and every retry) writes the same row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session

from activities.contracts import PassageKey, PassageWrite
from store import paths


def as_record(
    passage: PassageKey, outcome: str, detail: str = "", waiting_until: datetime | None = None
) -> paths.PassageRecord:
    return paths.PassageRecord(
        trip_id=passage.trip_id,
        seq=passage.seq,
        step_id=passage.step_id,
        step_type=passage.step_type,
        entered_at=passage.entered_at,
        outcome=outcome,
        detail=detail,
        waiting_until=waiting_until,
    )


def write_passages(session: Session, writes: Iterable[PassageWrite]) -> bool:
    """False when the trip row no longer exists (nothing to write to)."""
    return paths.record_passages(
        session,
        [as_record(w.passage, w.outcome, w.detail, w.waiting_until) for w in writes],
    )


def write_passage(
    session: Session,
    passage: PassageKey,
    outcome: str,
    detail: str = "",
    waiting_until: datetime | None = None,
) -> bool:
    return paths.record_passage(session, as_record(passage, outcome, detail, waiting_until))
