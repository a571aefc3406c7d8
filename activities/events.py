"""What a trip asks about the relation's events: at a wait_for_event step, the matching
events it already has (signals bring the ones that come later)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from activities.contracts import FIND_EVENTS, FindEventsInput, FindEventsResult
from activities.passages import write_passages
from domain.definition import parse_frozen
from domain.steps import WaitForEventStep
from store.db import session_scope
from store.models import Event, JourneyVersion, Trip

# Enough for any real wait: a relation with more matching events since its trip began
# has its wait satisfied many times over.
_LOOK_BACK = 50


class EventActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=FIND_EVENTS)
    def find_events(self, data: FindEventsInput) -> FindEventsResult:
        with session_scope(self._engine) as session:
            write_passages(session, data.writes)
            trip = session.get(Trip, data.trip_id)
            if trip is None:
                return FindEventsResult()
            definition = parse_frozen(
                session.exec(
                    select(JourneyVersion.definition).where(
                        col(JourneyVersion.journey_id) == trip.journey_id,
                        col(JourneyVersion.version) == trip.journey_version,
                    )
                ).one()
            )
            step = definition.step(data.step_id)
            assert isinstance(step, WaitForEventStep)
            found = _since_admission(session, trip, {step.event, *definition.listens_for()})
            return FindEventsResult(
                event_ids=[
                    e.id for e in found if e.id is not None and step.matches(e.type, e.payload)
                ],
                exit_event_id=next(
                    (
                        e.id
                        for e in found
                        if any(g.matches(e.type, e.payload) for g in definition.exit_on)
                    ),
                    None,
                ),
            )


def _since_admission(session: Session, trip: Trip, types: set[str]) -> list[Event]:
    """The relation's events of these types that came after the trip began: after the
    event that admitted it (ids grow with arrival), else since its admission."""
    query = select(Event).where(
        col(Event.relation_id) == trip.relation_id, col(Event.type).in_(sorted(types))
    )
    if trip.event_id is not None:
        query = query.where(col(Event.id) > trip.event_id)
    else:
        query = query.where(col(Event.received_at) >= trip.started_at)
    return list(session.exec(query.order_by(col(Event.id)).limit(_LOOK_BACK)).all())
