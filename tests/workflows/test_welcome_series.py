"""The seed's example: three emails over two weeks after sign-up, on skipped time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from tests.conftest import running_worker
from tests.support.smtp import SmtpSink
from tests.workflows.support import add_journey, add_relation, add_template, path_of, start_trip
from worker.settings import Settings

WELCOME_SERIES = {
    "name": "Welcome new members",
    "timezone": "Europe/Amsterdam",
    "steps": [
        {"id": "welcome", "type": "send_email", "template": "welcome"},
        {"id": "first_week", "type": "wait", "duration": "P1W"},
        {"id": "about_us", "type": "send_email", "template": "about_us"},
        {"id": "second_week", "type": "wait", "duration": "P1W"},
        {"id": "join_us", "type": "send_email", "template": "join_us"},
    ],
}


async def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll in real time (which does not advance the time-skipping clock)."""
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    assert check(), "condition not reached in time"


async def test_three_welcome_emails_arrive_a_week_apart_personalised(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    add_template(
        engine,
        "welcome",
        "Welcome, {{ relation.first_name }}!",
        "<p>Hi {{ relation.first_name }}</p>",
    )
    add_template(engine, "about_us", "What we do, {{ relation.first_name }}", "<p>About us</p>")
    add_template(
        engine,
        "join_us",
        "Become a member, {{ relation.first_name }}",
        "<p>Join {{ relation.city }}</p>",
    )
    relation_id = add_relation(
        engine, email="anna@example.org", first_name="Anna", custom={"city": "Utrecht"}
    )
    journey = add_journey(engine, WELCOME_SERIES)

    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        await eventually(lambda: len(smtp_sink.messages) == 1)

        await time_env.sleep(timedelta(days=6))
        await asyncio.sleep(0.5)
        assert len(smtp_sink.messages) == 1, "second mail must wait a full week"

        await time_env.sleep(timedelta(days=2))
        await eventually(lambda: len(smtp_sink.messages) == 2)

        await time_env.sleep(timedelta(days=5))
        await asyncio.sleep(0.5)
        assert len(smtp_sink.messages) == 2, "third mail must wait another full week"

        await handle.result()

    subjects = [m["Subject"] for m in smtp_sink.messages]
    assert subjects == ["Welcome, Anna!", "What we do, Anna", "Become a member, Anna"]
    assert all(
        m["To"] == "Anna <anna@example.org>" or "anna@example.org" in m["To"]
        for m in smtp_sink.messages
    )
    body = smtp_sink.messages[2].get_body(("html",))
    assert body is not None and "Join Utrecht" in body.get_content()

    path = {row.step_id: row for row in path_of(engine, handle.id)}
    assert [row.outcome for row in path.values()] == ["sent", "waited", "sent", "waited", "sent"]
    first_gap = path["about_us"].entered_at - path["welcome"].entered_at
    second_gap = path["join_us"].entered_at - path["about_us"].entered_at
    for gap in (first_gap, second_gap):
        assert timedelta(days=7) <= gap < timedelta(days=7, minutes=1)
