"""The trip path: one `passage` row per step passed, and where the trip is now.

Writes are upserts keyed by (trip_id, seq), so a retried activity rewrites its own row
instead of adding a second one; the same transaction moves `trip.current_step`, but
only forwards: an attempt that timed out and finishes after its retry (or after the
trip moved on) still writes its own row, yet cannot take the trip back to its step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from domain.statuses import OPEN_OUTCOMES, Outcome, TripStatus
from store.models import Passage, Trip, utcnow

# Outcomes a later write may replace with any other (see record_passage).
REPLACEABLE = frozenset({*OPEN_OUTCOMES, Outcome.waited})


@dataclass(frozen=True)
class PassageRecord:
    """What is known of one passage; rewriting the same (trip_id, seq) is harmless."""

    trip_id: str
    seq: int
    step_id: str
    step_type: str
    entered_at: datetime
    outcome: str
    detail: str = ""
    waiting_until: datetime | None = None


def record_passage(session: Session, record: PassageRecord) -> bool:
    """Write (or rewrite) one passage and make its step the trip's current one, unless
    the trip already recorded a later passage.

    Returns False, writing nothing, when the trip row is gone (its journey was deleted):
    bookkeeping for a trip nobody can see any more must not retry for ever.
    """
    # One conditional UPDATE, so two writes racing each other cannot both "win" out of order.
    moved = session.exec(
        update(Trip)
        .where(col(Trip.id) == record.trip_id, col(Trip.current_seq) <= record.seq)
        .values(
            current_step=record.step_id,
            waiting_until=record.waiting_until,
            current_seq=record.seq,
        )
    )
    if moved.rowcount == 0 and not _exists(session, record.trip_id):
        return False
    values: dict[str, Any] = dict(
        trip_id=record.trip_id,
        seq=record.seq,
        step_id=record.step_id,
        step_type=record.step_type,
        entered_at=record.entered_at,
        outcome=record.outcome,
        detail=record.detail,
        waiting_until=record.waiting_until,
        recorded_at=utcnow(),
    )
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(Passage).values(**values)
    # A final outcome is never replaced by an open one: a late or repeated attempt that
    # says `sending` or `waiting` cannot undo `sent` or `cancelled`. (`waited` may be: a
    # send that waited for its send window goes on to `sending` in the same passage.)
    session.exec(
        statement.on_conflict_do_update(
            index_elements=["trip_id", "seq"],
            set_={
                name: statement.excluded[name]
                for name in ("outcome", "detail", "waiting_until", "recorded_at")
            },
            where=or_(
                statement.excluded["outcome"].not_in(OPEN_OUTCOMES),
                col(Passage.outcome).in_(REPLACEABLE),
            ),
        )
    )
    return True


def record_passages(session: Session, records: list[PassageRecord]) -> bool:
    """Several passages in order, in the caller's transaction; False if the trip is gone."""
    return all([record_passage(session, record) for record in records])


def finish_trip(session: Session, *, trip_id: str, status: str, ended_at: datetime) -> bool:
    """Close a running trip; `current_step` keeps the last step so the path's end stays
    visible. The first close wins: a trip whose last step completed it just before a
    cancel arrived stays completed (and one cancelled stays cancelled). A passage still
    open at the end (waiting, sending) gets its final outcome: a cancelled trip's last
    row says `cancelled`, not `waiting` for ever. False when the trip row is gone.
    """
    result = session.exec(
        update(Trip)
        .where(col(Trip.id) == trip_id, col(Trip.status) == TripStatus.running)
        .values(status=status, ended_at=ended_at, waiting_until=None)
    )
    if result.rowcount:
        _close_open_passage(session, trip_id, status)
        return True
    return _exists(session, trip_id)


def close_if_running(
    session: Session,
    *,
    trip_id: str,
    status: str,
    ended_at: datetime,
    outcome: Outcome | None = None,
) -> bool:
    """Close a trip that ended outside its own code; True when it was still open here.
    `outcome` says why, on the passage it was at (default: the trip's status)."""
    result = session.exec(
        update(Trip)
        .where(col(Trip.id) == trip_id, col(Trip.status) == TripStatus.running)
        .values(status=status, ended_at=ended_at, waiting_until=None)
    )
    if result.rowcount:
        _close_open_passage(session, trip_id, status, outcome)
    return bool(result.rowcount)


def cancel_running(
    session: Session, *where: Any, outcome: Outcome, ended_at: datetime
) -> list[str]:
    """Close every running trip matching `where` as cancelled, its current passage saying
    why (`outcome`); returns their ids, for the caller to cancel the workflows too."""
    running = list(
        session.exec(select(Trip.id).where(col(Trip.status) == TripStatus.running, *where)).all()
    )
    for trip_id in running:
        close_if_running(
            session,
            trip_id=trip_id,
            status=TripStatus.cancelled,
            ended_at=ended_at,
            outcome=outcome,
        )
    return running


def _close_open_passage(
    session: Session, trip_id: str, status: str, outcome: Outcome | None = None
) -> None:
    """The trip's current passage only: trips from before outcomes were made final left
    `waiting` on waits they had long left, and those were passed, not cancelled."""
    if status == TripStatus.completed:
        return  # a completed trip's own code gave every passage its outcome
    if outcome is None:
        outcome = Outcome.cancelled if status == TripStatus.cancelled else Outcome.failed
    current = select(Trip.current_seq).where(col(Trip.id) == trip_id).scalar_subquery()
    session.exec(
        update(Passage)
        .where(
            col(Passage.trip_id) == trip_id,
            col(Passage.seq) == current,
            col(Passage.outcome).in_(OPEN_OUTCOMES),
        )
        .values(outcome=outcome, waiting_until=None, recorded_at=utcnow())
    )


def record_resend(
    session: Session, *, trip_id: str, step_id: str, outcome: str, detail: str
) -> bool:
    """A resend settled: the send step's passage that said `uncertain` says what the
    resend found (`sent`, `bounced`, ...), so the path agrees with the send ledger."""
    result = session.exec(
        update(Passage)
        .where(
            col(Passage.trip_id) == trip_id,
            col(Passage.step_id) == step_id,
            col(Passage.outcome) == Outcome.uncertain,
        )
        .values(outcome=outcome, detail=detail, recorded_at=utcnow())
    )
    return bool(result.rowcount)


def is_running(session: Session, trip_id: str) -> bool:
    found = session.exec(select(Trip.status).where(col(Trip.id) == trip_id)).first()
    return found == TripStatus.running


def _exists(session: Session, trip_id: str) -> bool:
    return session.exec(select(Trip.id).where(col(Trip.id) == trip_id)).first() is not None
