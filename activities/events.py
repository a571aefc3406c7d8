"""What a trip asks about the relation's events: at a wait_for_event step (and, for a
journey with goals, when it starts), the matching events that came after the trip
began. Signals bring the ones that come later; this covers those that came before the
trip was there to hear them (while it was being admitted, or busy with another step)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from activities.contracts import FIND_EVENTS, FindEventsInput, FindEventsResult
from activities.passages import write_passages
from domain.definition import parse_frozen
from domain.steps import WaitForEventStep
from store import journeys
from store.db import session_scope
from store.models import Event, Trip

# Matching events returned at most: a wait takes one, a goal one; more is only noise.
_FOUND = 50
# Events read at most per look-back (the oldest since the trip began): a relation with
# more events of the types its trip listens for has long had what the trip waits for.
_READ = 1000


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
            frozen = journeys.version(session, trip.journey_id, trip.journey_version)
            definition = parse_frozen(frozen.definition)
            step = definition.step(data.step_id) if data.step_id is not None else None
            assert step is None or isinstance(step, WaitForEventStep)
            types = set(definition.listens_for())
            found = _since_admission(session, trip, types)
            matching = [e for e in found if step is not None and step.matches(e.type, e.payload)]
            goal = next(
                (e for e in found if any(g.matches(e.type, e.payload) for g in definition.exit_on)),
                None,
            )
            return FindEventsResult(
                event_ids=[e.id for e in matching[:_FOUND] if e.id is not None],
                exit_event_id=goal.id if goal is not None else None,
                exit_event_type=goal.type if goal is not None else None,
            )


def _since_admission(session: Session, trip: Trip, types: set[str]) -> list[Event]:
    """The relation's events of these types that came after the trip began, oldest first."""
    if trip.relation_id is None:
        # No relation yet: `relation_id == None` would read every relation-less event.
        return []
    query = select(Event).where(
        col(Event.relation_id) == trip.relation_id, col(Event.type).in_(sorted(types))
    )
    if trip.events_after is not None:
        query = query.where(col(Event.id) > trip.events_after)
    elif trip.event_id is not None:
        query = query.where(col(Event.id) > trip.event_id)
    else:  # trips admitted before trips kept their horizon
        query = query.where(col(Event.received_at) >= trip.started_at)
    return list(session.exec(query.order_by(col(Event.id)).limit(_READ)).all())
