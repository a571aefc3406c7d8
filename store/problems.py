"""Trips that cannot move: Temporal reports their workflow task failing again and again."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from domain.statuses import Outcome, TripStatus
from store import paths
from store.models import Trip


def mark(session: Session, problems: Mapping[str, str]) -> int:
    """Make `problem` say what Temporal reports for exactly these running trips (trip id
    -> text); a trip no longer reported (fixed by a deploy) is cleared. Returns how many
    are stuck now."""
    flagged = set(session.exec(select(Trip.id).where(col(Trip.problem).is_not(None))).all())
    for trip_id in flagged - set(problems):
        session.exec(update(Trip).where(col(Trip.id) == trip_id).values(problem=None))
    for trip_id, text in problems.items():
        session.exec(
            update(Trip)
            .where(col(Trip.id) == trip_id, col(Trip.status) == TripStatus.running)
            .values(problem=text[:300])
        )
    return len(problems)


def cancel_stuck(
    session: Session, journey_id: int, terminated: Collection[str], ended_at: datetime
) -> list[str]:
    """Close as cancelled the journey's trips whose workflows were just terminated because
    their task kept failing (such a workflow cannot run its own cancellation)."""
    return paths.cancel_running(
        session,
        col(Trip.journey_id) == journey_id,
        col(Trip.id).in_(list(terminated)),
        outcome=Outcome.cancelled,
        ended_at=ended_at,
    )
