"""Forward-to-a-friend on skipped time (seed 002's use case for deleting a relation): a
form post that names no relation adds the friend, invites them and deletes them 30 days
later unless they registered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from activities.admission import anonymous_trip_id
from activities.dispatch import start_dispatch
from store import events
from store.models import Event, Relation, Trip, utcnow
from tests.conftest import running_worker
from tests.support.smtp import SmtpSink
from tests.workflows.events_support import post_event
from tests.workflows.support import add_journey, add_template, path_of, trip_row
from worker.settings import Settings

FORWARD: dict[str, Any] = {
    "name": "Forward to a friend",
    "triggers": [{"type": "event", "event": "forward_to_friend", "without_relation": True}],
    "steps": [
        {
            "id": "add_friend",
            "type": "add_relation",
            "set": [
                {"field": "email", "from": "event.friend_email"},
                {"field": "first_name", "from": "event.friend_name"},
            ],
        },
        {"id": "invite", "type": "send_email", "template": "invite"},
        {
            "id": "registered",
            "type": "wait_for_event",
            "event": "registration",
            "timeout": "P30D",
            "on_received": "keep",
            "on_timeout": "forget",
        },
        {"id": "forget", "type": "delete_relation"},
        {"id": "keep", "type": "exit"},
    ],
}


def at(engine: Engine, trip_id: str) -> str | None:
    """The step the trip is at, or None while it is not admitted yet."""
    with Session(engine) as session:
        found = session.get(Trip, trip_id)
        return found.current_step if found is not None else None


async def until(check: Callable[[], bool], what: str) -> None:
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}")


def forward(engine: Engine, **payload: Any) -> int:
    """A form post that names no relation, stored as the API stores it."""
    with Session(engine, expire_on_commit=False) as session:
        stored = events.ingest(
            session,
            events.NewEvent(
                type="forward_to_friend", relation=None, payload=payload, occurred_at=utcnow()
            ),
            now=utcnow(),
            loc=("event",),
        )
    assert stored.event.id is not None and stored.event.relation_id is None
    return stored.event.id


async def test_a_friend_who_does_not_register_is_deleted_after_30_days(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    add_template(engine, "invite", "{{ relation.first_name }}, join us", "<p>Come along</p>")
    journey_id, _ = add_journey(engine, FORWARD)
    client, queue = time_env.client, settings.task_queue
    async with running_worker(client, engine, settings):
        posts = {
            name: forward(engine, friend_email=f"{name}@example.org", friend_name=name.title())
            for name in ("fien", "gijs")
        }
        for event_id in posts.values():
            await start_dispatch(client, queue, event_id=event_id)
        trips = {name: anonymous_trip_id(journey_id, event_id) for name, event_id in posts.items()}
        await until(
            lambda: (
                all(at(engine, t) == "registered" for t in trips.values())
                and len(smtp_sink.messages) == 2
            ),
            "both friends invited and waiting",
        )
        fien = trip_row(engine, trips["fien"]).relation_id
        gijs = trip_row(engine, trips["gijs"]).relation_id
        assert fien is not None and gijs is not None and fien != gijs

        await time_env.sleep(timedelta(days=3))
        await post_event(client, engine, queue, fien, "registration")
        await until(lambda: trip_row(engine, trips["fien"]).status == "completed", "fien kept")
        await time_env.sleep(timedelta(days=28))
        await until(lambda: trip_row(engine, trips["gijs"]).status == "completed", "gijs deleted")

    invited = sorted((parseaddr(m["To"])[1], m["Subject"]) for m in smtp_sink.messages)
    assert invited == [
        ("fien@example.org", "Fien, join us"),
        ("gijs@example.org", "Gijs, join us"),
    ]
    kept = [(p.step_id, p.outcome, p.detail) for p in path_of(engine, trips["fien"])]
    gone = [(p.step_id, p.outcome, p.detail) for p in path_of(engine, trips["gijs"])]
    assert [row[:2] for row in kept] == [
        ("add_friend", "created"),
        ("invite", "sent"),
        ("registered", "received"),
        ("keep", "exited"),
    ]
    assert gone[0] == ("add_friend", "created", "new relation with email, first_name")
    assert [row[:2] for row in gone[1:]] == [
        ("invite", "sent"),
        ("registered", "timed_out"),
        ("forget", "deleted"),
    ]
    assert gone[3][2] == "relation deleted for good"
    ended = trip_row(engine, trips["gijs"])
    assert (ended.status, ended.relation_id, ended.current_step) == ("completed", gijs, "forget")
    with Session(engine) as session:
        assert session.get(Relation, gijs) is None
        assert session.get(Relation, fien) is not None
        # The form post named the deleted friend: it went with them.
        left = session.exec(select(Event.id).where(col(Event.type) == "forward_to_friend")).all()
    assert left == [posts["fien"]]
