"""Writing one passage of the trip path from the workflow's `StepVisit`.

Shared by every activity that records where a trip is: the visit carries the
idempotency key (trip, seq), so every caller writes the same row.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from activities.contracts import StepVisit
from store import paths


def record_visit(
    session: Session,
    visit: StepVisit,
    outcome: str,
    detail: str,
    waiting_until: datetime | None = None,
) -> bool:
    """False when the trip row no longer exists (nothing to write to)."""
    return paths.record_passage(
        session,
        trip_id=visit.trip_id,
        seq=visit.seq,
        step_id=visit.step_id,
        step_type=visit.step_type,
        entered_at=visit.entered_at,
        outcome=outcome,
        detail=detail,
        waiting_until=waiting_until,
    )
