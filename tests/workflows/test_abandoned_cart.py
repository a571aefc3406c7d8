"""The abandoned cart, on skipped time: a `cart_abandoned` event admits, the trip waits
up to four hours for a `purchase`, and only those who did not buy get the reminder."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from store.models import Trip
from tests.conftest import running_worker
from tests.support.smtp import SmtpSink
from tests.workflows.events_support import ABANDONED_CART, post_event
from tests.workflows.support import add_journey, add_relation, add_template, path_of
from worker.settings import Settings


def trips(engine: Engine) -> dict[int, Trip]:
    with Session(engine) as session:
        return {t.relation_id: t for t in session.exec(select(Trip)).all() if t.relation_id}


async def until(check: Any, what: str) -> None:
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}")


def outcome_at(engine: Engine, trip_id: str, step: str) -> str:
    return next(p.outcome for p in path_of(engine, trip_id) if p.step_id == step)


async def test_only_those_who_did_not_buy_within_four_hours_get_the_reminder(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    add_template(engine, "reminder", "You left {{ event.items }} items", "<p>Come back</p>")
    add_journey(engine, ABANDONED_CART)
    names = ("anna", "bert", "carla", "dirk", "eva")
    people = {n: add_relation(engine, email=f"{n}@example.org", first_name=n) for n in names}
    client, queue = time_env.client, settings.task_queue

    async def event(name: str, type_: str, **payload: Any) -> int:
        return await post_event(client, engine, queue, people[name], type_, **payload)

    async with running_worker(client, engine, settings):
        await event("eva", "purchase")  # before her cart was abandoned: does not count
        for name in names:
            await event(name, "cart_abandoned", items=3)
        # Dirk buys at once, quite possibly before his trip reaches the wait.
        await event("dirk", "purchase")
        await until(lambda: len(trips(engine)) == len(names), "five trips")

        await time_env.sleep(timedelta(hours=1))
        await event("anna", "purchase")
        await until(
            lambda: trips(engine)[people["anna"]].status == "completed", "anna's trip to end"
        )
        await time_env.sleep(timedelta(hours=3, minutes=30))
        await until(
            lambda: all(t.status == "completed" for t in trips(engine).values()), "all trips"
        )
        await event("carla", "purchase")  # too late: she had her reminder

    reminded = sorted(parseaddr(m["To"])[1].split("@")[0] for m in smtp_sink.messages)
    assert reminded == ["bert", "carla", "eva"]
    assert {m["Subject"] for m in smtp_sink.messages} == {"You left 3 items"}
    ended = trips(engine)
    for name in ("anna", "dirk"):
        assert outcome_at(engine, ended[people[name]].id, "bought") == "received"
    for name in ("bert", "carla", "eva"):
        assert outcome_at(engine, ended[people[name]].id, "bought") == "timed_out"
    with Session(engine) as session:
        admitted_by = session.exec(select(col(Trip.trigger)).distinct()).all()
    assert admitted_by == ["trigger 1: event 'cart_abandoned'"]


async def test_a_goal_event_ends_the_trip_where_it_is(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    add_template(engine, "nudge", "Still thinking?", "<p>Hi</p>")
    add_journey(
        engine,
        {
            "name": "Nudge until they buy",
            "triggers": [{"type": "event", "event": "viewed"}],
            "exit_on": [{"event": "purchase", "where": {"field": "total", "op": "gt", "value": 0}}],
            "steps": [
                {"id": "day", "type": "wait", "duration": "P1D"},
                {"id": "nudge", "type": "send_email", "template": "nudge"},
            ],
        },
    )
    anna = add_relation(engine, email="anna@example.org")
    bert = add_relation(engine, email="bert@example.org")
    client, queue = time_env.client, settings.task_queue
    async with running_worker(client, engine, settings):
        for person in (anna, bert):
            await post_event(client, engine, queue, person, "viewed")
        await until(lambda: len(trips(engine)) == 2, "two trips")
        await time_env.sleep(timedelta(hours=2))
        await post_event(client, engine, queue, bert, "purchase", total=0)  # no goal
        await post_event(client, engine, queue, anna, "purchase", total=40)
        await until(lambda: trips(engine)[anna].status == "completed", "anna's trip to end")
        await time_env.sleep(timedelta(days=1))
        await until(lambda: trips(engine)[bert].status == "completed", "bert's trip to end")

    assert [parseaddr(m["To"])[1] for m in smtp_sink.messages] == ["bert@example.org"]
    (left,) = path_of(engine, trips(engine)[anna].id)
    assert (left.step_id, left.outcome) == ("day", "goal_reached")
    assert "left on event 'purchase'" in left.detail
