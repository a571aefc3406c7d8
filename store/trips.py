"""Trips as support staff and marketers read them: paths, per-step counts, who waits where.

The counts come from our own tables (Temporal's visibility cannot group by step):
"waiting at X" = running trips whose current step is X; "passed X" = distinct trips
that reached X and moved on, or completed at X; "cancelled at X" = trips cancelled
while X was their current step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from domain.definition import JourneyDefinition
from domain.statuses import TripStatus
from store.errors import NotFound
from store.models import Passage, Relation, Trip

NOT_PASSED = (TripStatus.running, TripStatus.cancelled, TripStatus.failed)

# --- admission's writes --------------------------------------------------------------------


def numbers_taken(session: Session, journey_id: int, relation_id: int) -> tuple[int, int]:
    """(highest trip number so far or 0, how many of those trips are running), of the
    trips that admitted the relation (a trip a step gave another relation still counts
    for the one it admitted: the re-entry setting is about admissions)."""
    query = select(
        func.coalesce(func.max(Trip.number), 0),
        func.count().filter(col(Trip.status) == TripStatus.running),
    ).where(col(Trip.journey_id) == journey_id, col(Trip.admitted_relation_id) == relation_id)
    highest, running = session.exec(query).one()
    return int(highest), int(running)


def delete_unstarted(session: Session, trip_id: str) -> None:
    """Remove a trip row whose workflow never started (nothing else refers to it yet)."""
    trip = session.get(Trip, trip_id)
    if trip is not None:
        session.delete(trip)
        session.commit()


def close_cancelled(session: Session, trip_id: str, *, ended_at: datetime) -> None:
    """Close a trip admission cancelled again; one that already ended keeps its own end."""
    session.exec(
        update(Trip)
        .where(col(Trip.id) == trip_id, col(Trip.status) == TripStatus.running)
        .values(status=TripStatus.cancelled, ended_at=ended_at, waiting_until=None)
    )
    session.commit()


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathEntry:
    """A passage as the path shows it: with the moment the trip left the step."""

    seq: int
    step_id: str
    step_type: str
    entered_at: datetime
    left_at: datetime | None
    outcome: str
    detail: str
    waiting_until: datetime | None


def get(session: Session, trip_id: str) -> Trip:
    trip = session.get(Trip, trip_id)
    if trip is None:
        raise NotFound("trip", trip_id)
    return trip


def path(session: Session, trip: Trip) -> list[PathEntry]:
    """The steps a trip passed, in order; a passage is left when the next one is entered."""
    rows = session.exec(
        select(Passage).where(col(Passage.trip_id) == trip.id).order_by(col(Passage.seq))
    ).all()
    passages: list[PathEntry] = []
    for index, row in enumerate(rows):
        if index + 1 < len(rows):
            left_at: datetime | None = rows[index + 1].entered_at
        else:
            left_at = trip.ended_at
        passages.append(
            PathEntry(
                seq=row.seq,
                step_id=row.step_id,
                step_type=row.step_type,
                entered_at=row.entered_at,
                left_at=left_at,
                outcome=row.outcome,
                detail=row.detail,
                waiting_until=row.waiting_until,
            )
        )
    return passages


def of_relation(
    session: Session, relation_id: int, *, limit: int = 100, offset: int = 0
) -> tuple[list[Trip], int]:
    where = col(Trip.relation_id) == relation_id
    query = (
        select(Trip)
        .where(where)
        .order_by(col(Trip.started_at).desc(), col(Trip.id))
        .offset(offset)
        .limit(limit)
    )
    total = session.exec(select(func.count()).select_from(Trip).where(where)).one()
    return list(session.exec(query).all()), total


def running_count(session: Session, journey_id: int) -> int:
    query = (
        select(func.count())
        .select_from(Trip)
        .where(col(Trip.journey_id) == journey_id, col(Trip.status) == TripStatus.running)
    )
    return session.exec(query).one()


@dataclass(frozen=True)
class StepCount:
    step_id: str
    step_type: str
    waiting: int
    passed: int
    cancelled: int


@dataclass(frozen=True)
class JourneyCounts:
    steps: list[StepCount]
    totals: dict[str, int]


def counts(session: Session, journey_id: int, definition: JourneyDefinition) -> JourneyCounts:
    running = col(Trip.status) == TripStatus.running
    waiting_rows = session.exec(
        select(Trip.current_step, func.count())
        .where(col(Trip.journey_id) == journey_id, running)
        .group_by(col(Trip.current_step))
    ).all()
    waiting = {step: int(n) for step, n in waiting_rows if step is not None}
    # Where a trip is (or ended) is its current passage: the one with its current_seq.
    at_end = col(Trip.current_seq) == col(Passage.seq)
    cancelled_here = at_end & (col(Trip.status) == TripStatus.cancelled)
    # Passed: reached the step and left it, or completed there; not still there, and
    # not stopped there (cancelled, or failed outside its own code).
    passed_here = ~(at_end & col(Trip.status).in_(NOT_PASSED))
    passage_rows = session.exec(
        select(
            Passage.step_id,
            func.count(func.distinct(Passage.trip_id)).filter(passed_here),
            func.count(func.distinct(Passage.trip_id)).filter(cancelled_here),
        )
        .join(Trip, col(Trip.id) == col(Passage.trip_id))
        .where(col(Trip.journey_id) == journey_id)
        .group_by(col(Passage.step_id))
    ).all()
    passed = {step: int(p) for step, p, _ in passage_rows}
    cancelled = {step: int(c) for step, _, c in passage_rows}
    status_rows = session.exec(
        select(Trip.status, func.count())
        .where(col(Trip.journey_id) == journey_id)
        .group_by(col(Trip.status))
    ).all()
    totals = {status.value: 0 for status in TripStatus}
    totals.update({status: int(n) for status, n in status_rows})
    totals["stuck"] = int(
        session.exec(
            select(func.count())
            .select_from(Trip)
            .where(col(Trip.journey_id) == journey_id, running, col(Trip.problem).is_not(None))
        ).one()
    )
    return JourneyCounts(
        steps=[
            StepCount(
                s.id,
                s.type,
                waiting.get(s.id, 0),
                passed.get(s.id, 0),
                cancelled.get(s.id, 0),
            )
            for s in definition.steps
        ],
        totals=totals,
    )


@dataclass(frozen=True)
class Waiting:
    relation_id: int | None  # None: a trip whose event named no known relation, yet
    # Who it is, for support staff; None once the relation was erased.
    first_name: str | None
    last_name: str | None
    email: str | None
    trip_id: str
    journey_version: int
    since: datetime
    waiting_until: datetime | None


def waiting_at(
    session: Session, journey_id: int, step_id: str, *, limit: int = 100, offset: int = 0
) -> tuple[list[Waiting], int]:
    """Relations whose running trip is at `step_id` now, longest waiting first."""
    entered = (
        select(Passage.trip_id, func.max(Passage.entered_at).label("entered_at"))
        .where(col(Passage.step_id) == step_id)
        .group_by(col(Passage.trip_id))
        .subquery()
    )
    here = (
        (col(Trip.journey_id) == journey_id)
        & (col(Trip.status) == TripStatus.running)
        & (col(Trip.current_step) == step_id)
    )
    since = func.coalesce(entered.c.entered_at, Trip.started_at)
    query = (
        select(Trip, since, Relation)
        .outerjoin(entered, entered.c.trip_id == col(Trip.id))
        .outerjoin(Relation, col(Relation.id) == col(Trip.relation_id))
        .where(here)
        .order_by(since, col(Trip.id))
        .offset(offset)
        .limit(limit)
    )
    total = session.exec(select(func.count()).select_from(Trip).where(here)).one()
    found = [
        Waiting(
            relation_id=trip.relation_id,
            first_name=person.first_name if person else None,
            last_name=person.last_name if person else None,
            email=person.email if person else None,
            trip_id=trip.id,
            journey_version=trip.journey_version,
            since=at,
            waiting_until=trip.waiting_until,
        )
        for trip, at, person in session.exec(query).all()
    ]
    return found, total
