"""The trip path: one `trip_step` row per passage, and where the trip is now.

Writes are upserts keyed by (trip_id, seq), so a retried activity rewrites its own row
instead of adding a second one; the same transaction moves `trip.current_step`, but
only forwards: an attempt that timed out and finishes after its retry (or after the
trip moved on) still writes its own row, yet cannot take the trip back to its step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from store.models import Trip, TripStep, utcnow


def record_passage(
    session: Session,
    *,
    trip_id: str,
    seq: int,
    step_id: str,
    step_type: str,
    entered_at: datetime,
    outcome: str,
    detail: str = "",
    waiting_until: datetime | None = None,
) -> bool:
    """Write (or rewrite) one passage and make its step the trip's current one, unless
    the trip already recorded a later passage.

    Returns False, writing nothing, when the trip row is gone (its journey was deleted):
    bookkeeping for a trip nobody can see any more must not retry for ever.
    """
    # One conditional UPDATE, so two writes racing each other cannot both "win" out of order.
    moved = session.exec(
        update(Trip)
        .where(col(Trip.id) == trip_id, col(Trip.current_seq) <= seq)
        .values(current_step=step_id, waiting_until=waiting_until, current_seq=seq)
    )
    if moved.rowcount == 0 and not _exists(session, trip_id):
        return False
    values: dict[str, Any] = dict(
        trip_id=trip_id,
        seq=seq,
        step_id=step_id,
        step_type=step_type,
        entered_at=entered_at,
        outcome=outcome,
        detail=detail,
        waiting_until=waiting_until,
        recorded_at=utcnow(),
    )
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(TripStep).values(**values)
    session.exec(
        statement.on_conflict_do_update(
            index_elements=["trip_id", "seq"],
            set_={
                name: statement.excluded[name]
                for name in ("outcome", "detail", "waiting_until", "recorded_at")
            },
        )
    )
    return True


def finish_trip(session: Session, *, trip_id: str, status: str, ended_at: datetime) -> bool:
    """Close a trip; `current_step` keeps the last step so the path's end stays visible."""
    result = session.exec(
        update(Trip)
        .where(col(Trip.id) == trip_id)
        .values(status=status, ended_at=ended_at, waiting_until=None)
    )
    return bool(result.rowcount)


def close_if_running(session: Session, *, trip_id: str, status: str, ended_at: datetime) -> bool:
    """Close a trip that ended outside its own code; True when it was still open here."""
    result = session.exec(
        update(Trip)
        .where(col(Trip.id) == trip_id, col(Trip.status) == "running")
        .values(status=status, ended_at=ended_at, waiting_until=None)
    )
    return bool(result.rowcount)


def _exists(session: Session, trip_id: str) -> bool:
    return session.exec(select(Trip.id).where(col(Trip.id) == trip_id)).first() is not None
