"""Races found in review: each was a lost goal, a second trip or a 500 before its fix."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.dispatch import start_dispatch
from store import events
from store.db import session_scope
from store.models import Segment, utcnow
from tests.api.events_support import all_dispatched, settled_trips, trips_of
from tests.api.support import active_journey, ok, relation, template
from tests.support.smtp import SmtpSink


async def test_a_goal_that_comes_while_its_trip_is_being_admitted_still_ends_it(
    api: httpx.AsyncClient, api_engine: Engine, worker: Worker, smtp_sink: SmtpSink
) -> None:
    await template(api, "cart", subject="Your cart")
    await active_journey(
        api,
        {
            "name": "Cart",
            "triggers": [{"type": "event", "event": "cart_abandoned"}],
            "exit_on": [{"event": "purchase"}],
            "steps": [
                {"id": "pause", "type": "wait", "duration": "PT2S"},
                {"id": "reminder", "type": "send_email", "template": "cart"},
            ],
        },
    )
    people = [(await relation(api, email=f"p{i}@example.org"))["id"] for i in range(8)]
    # Cart and purchase in one batch: the purchase's dispatch may run before the cart's
    # trip exists, so no signal can reach it; the trip must find the goal itself.
    batch = [
        {"type": kind, "relation": {"id": person}}
        for person in people
        for kind in ("cart_abandoned", "purchase")
    ]
    await ok(api.post("/events/batch", json={"events": batch}))
    for person in people:
        (trip,) = await settled_trips(api, person, 1)
        assert trip["status"] == "completed"
        path = await ok(api.get(f"/trips/{trip['id']}"))
        assert path["path"][-1]["outcome"] == "goal_reached"
        assert "left on event 'purchase'" in path["path"][-1]["detail"]
    assert smtp_sink.messages == []


async def test_a_change_right_after_an_event_does_not_admit_the_events_entry_again(
    api: httpx.AsyncClient,
    api_engine: Engine,
    worker: Worker,
    dev_env: WorkflowEnvironment,
    task_queue: str,
) -> None:
    with session_scope(api_engine) as session:
        session.add(Segment(key="buyers", name="Buyers", condition={"event": "purchase"}))
    await template(api)
    await active_journey(
        api,
        {
            "name": "Welcome buyers",
            "reentry": "always",
            "triggers": [{"type": "segment_entry", "segment": "buyers"}],
            "steps": [{"id": "hello", "type": "send_email", "template": "welcome"}],
        },
    )
    anna = (await relation(api))["id"]
    # The event is stored and has entered the segment, but its dispatch has not run yet
    # (a worker backlog) when the app updates the relation.
    event_id = _store_event(api_engine, anna, "purchase")
    await ok(api.patch(f"/relations/{anna}", json={"first_name": "Annie"}))
    await _dispatch(dev_env.client, task_queue, event_id)
    await all_dispatched(api_engine)
    (trip,) = await settled_trips(api, anna, 1)
    assert trip["event_id"] == event_id, "the entry's trip must carry the event that caused it"


async def test_edits_of_a_segment_with_the_longest_key_admit_their_entrants(
    api: httpx.AsyncClient, worker: Worker
) -> None:
    key = "k" * 100
    condition: dict[str, Any] = {"field": "tier", "op": "eq", "value": "gold"}
    await ok(api.post("/segments", json={"key": key, "name": "Long", "condition": condition}), 201)
    await template(api)
    await active_journey(
        api,
        {
            "name": "Gold",
            "triggers": [{"type": "segment_entry", "segment": key}],
            "steps": [{"id": "hello", "type": "send_email", "template": "welcome"}],
        },
    )
    anna = (await relation(api, custom={"tier": "silver"}))["id"]
    bert = (await relation(api, email="bert@example.org", custom={"tier": "bronze"}))["id"]
    for tier, person in (("silver", anna), ("bronze", bert)):
        edited = await ok(
            api.put(
                f"/segments/{key}",
                params={"confirm": "true"},
                json={"condition": {"field": "tier", "op": "in", "value": ["gold", tier]}},
            )
        )
        assert edited["entered"] == 1
        await settled_trips(api, person, 1)
    assert len(await trips_of(api, anna)) == 1


def _store_event(engine: Engine, relation_id: int, type_: str) -> int:
    with Session(engine, expire_on_commit=False) as session:
        stored = events.ingest(
            session,
            events.NewEvent(
                type=type_,
                relation=events.RelationRef(id=relation_id),
                payload={},
                occurred_at=utcnow(),
            ),
            now=utcnow(),
            loc=("body",),
        )
    assert stored.event.id is not None
    return stored.event.id


async def _dispatch(client: Client, task_queue: str, event_id: int) -> None:
    await start_dispatch(client, task_queue, event_id=event_id)
