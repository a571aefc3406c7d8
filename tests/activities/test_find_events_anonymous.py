"""A trip admitted by an event that named no relation (a form post) looks back for its
goals too: it must not take another visitor's form post, which also names no relation,
as its own goal."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from activities.contracts import FindEventsInput
from activities.events import EventActivities
from store.db import session_scope
from store.models import Event, Trip, utcnow
from tests.workflows.support import add_journey

FORM = {
    "name": "Form",
    "triggers": [{"type": "event", "event": "form_post", "without_relation": True}],
    "exit_on": [{"event": "form_post"}],
    "steps": [
        {
            "id": "known",
            "type": "lookup_relation",
            "match": [{"field": "email", "from": "event.email"}],
        }
    ],
}


def _post(engine: Engine, email: str) -> int:
    with session_scope(engine) as session:
        event = Event(
            relation_id=None,
            type="form_post",
            payload={"email": email},
            occurred_at=utcnow(),
            received_at=utcnow(),
        )
        session.add(event)
        session.flush()
        assert event.id is not None
        return event.id


def test_another_visitors_form_post_is_not_this_trips_goal(any_engine: Engine) -> None:
    journey_id, _ = add_journey(any_engine, FORM)
    mine = _post(any_engine, "anna@example.org")
    trip_id = f"trip:{journey_id}:event-{mine}:1"
    with session_scope(any_engine) as session:
        session.add(
            Trip(
                id=trip_id,
                journey_id=journey_id,
                journey_version=1,
                relation_id=None,
                number=1,
                event_id=mine,
                current_step="known",
            )
        )
    _post(any_engine, "bob@example.org")  # someone else, a moment later

    found = EventActivities(any_engine).find_events(FindEventsInput(trip_id=trip_id))

    assert found.exit_event_id is None and found.event_ids == []
