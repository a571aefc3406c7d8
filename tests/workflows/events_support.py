"""Events in workflow tests: stored as the API stores them, dispatched as it does."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from activities.dispatch import start_dispatch
from store import events
from store.models import Event, utcnow

# A `cart_abandoned` event admits; the trip waits up to four hours for a `purchase`.
ABANDONED_CART: dict[str, Any] = {
    "name": "Abandoned cart",
    "triggers": [{"type": "event", "event": "cart_abandoned"}],
    "steps": [
        {
            "id": "bought",
            "type": "wait_for_event",
            "event": "purchase",
            "timeout": "PT4H",
            "on_received": "done",
        },
        {"id": "reminder", "type": "send_email", "template": "reminder"},
        {"id": "done", "type": "exit"},
    ],
}


async def post_event(
    client: Client, engine: Engine, task_queue: str, relation_id: int, type_: str, **payload: Any
) -> int:
    """Store the event and start its Dispatch, then wait (in real time, which does not
    move the time-skipping clock) until the dispatch has acted on it."""
    with Session(engine, expire_on_commit=False) as session:
        stored = events.ingest(
            session,
            events.NewEvent(
                type=type_,
                relation=events.RelationRef(id=relation_id),
                payload=payload,
                occurred_at=utcnow(),
            ),
            now=utcnow(),
            loc=("event",),
        )
    event_id = stored.event.id
    assert event_id is not None
    await start_dispatch(client, task_queue, event_id=event_id)
    for _ in range(400):
        with Session(engine) as session:
            event = session.get(Event, event_id)
            if event is not None and event.dispatched_at is not None:
                return event_id
        await asyncio.sleep(0.025)
    raise AssertionError(f"event {event_id} was not dispatched")
