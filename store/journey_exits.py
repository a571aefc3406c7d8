"""Journey exits: relations that unsubscribed from one journey (the seed's "unsubscribe
from this journey"). Admission refuses them and the journey's sends skip them."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from store.models import JourneyExit, utcnow


def has_left(session: Session, journey_id: int, relation_id: int) -> bool:
    found = session.exec(
        select(JourneyExit.relation_id).where(
            col(JourneyExit.journey_id) == journey_id,
            col(JourneyExit.relation_id) == relation_id,
        )
    ).first()
    return found is not None


def leave(session: Session, journey_id: int, relation_id: int) -> bool:
    """Record the exit in the caller's transaction; False when it was there already
    (the first moment stays)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(JourneyExit)
        .values(journey_id=journey_id, relation_id=relation_id, at=utcnow())
        .on_conflict_do_nothing(index_elements=["journey_id", "relation_id"])
    )
    return bool(session.exec(statement).rowcount)
