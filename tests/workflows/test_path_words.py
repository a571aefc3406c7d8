"""What a trip's path says after the fact: final outcomes, journey-local and UTC times,
the template and Message-ID of a mail."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from tests.conftest import running_worker
from tests.support.smtp import SmtpSink
from tests.workflows.support import (
    add_journey,
    add_relation,
    add_template,
    path_of,
    sends_of,
    start_trip,
    trip_row,
)
from worker.settings import Settings


async def test_a_finished_trip_reads_as_what_happened(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    add_template(engine, "hello", "Hello", "<p>Hello</p>")
    relation_id = add_relation(engine, email="words@example.org")
    journey = add_journey(
        engine,
        {
            "name": "Words",
            "timezone": "Europe/Amsterdam",
            "steps": [
                {"id": "launch", "type": "wait_until", "until": "2020-01-01T09:00:30"},
                {"id": "pause", "type": "wait", "duration": "PT2H"},
                {"id": "hello", "type": "send_email", "template": "hello"},
            ],
        },
    )
    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        await handle.result()

    launch, pause, hello = path_of(engine, handle.id)
    # Written as 09:00:30 Amsterdam: both clocks, and the seconds are kept.
    assert (launch.outcome, launch.detail) == (
        "passed",
        "2020-01-01 09:00:30 Europe/Amsterdam (08:00:30 UTC) has passed",
    )
    assert pause.outcome == "waited"
    assert "wait 2 hours, until " in pause.detail and "Europe/Amsterdam (" in pause.detail
    assert pause.waiting_until is not None
    assert pause.waiting_until - pause.entered_at == timedelta(hours=2)
    [send] = sends_of(engine, handle.id)
    assert (hello.outcome, hello.detail) == (
        "sent",
        f"template `hello` v1; Message-ID {send.message_id}",
    )
    trip = trip_row(engine, handle.id)
    assert (trip.status, trip.current_step) == ("completed", "hello")
    assert trip.ended_at is not None and trip.ended_at >= hello.entered_at


async def test_a_cancelled_trip_says_cancelled_where_it_was(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    relation_id = add_relation(engine, email="stop@example.org")
    journey = add_journey(
        engine,
        {
            "name": "Stopped",
            "steps": [
                {"id": "first", "type": "jump", "target": "long"},
                {"id": "long", "type": "wait", "duration": "P30D"},
                {"id": "done", "type": "exit"},
            ],
        },
    )
    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        for _ in range(200):
            rows = path_of(engine, handle.id)
            if rows and rows[-1].outcome == "waiting":
                break
            await asyncio.sleep(0.05)
        await handle.cancel()
        with contextlib.suppress(WorkflowFailureError):
            await handle.result()

    assert [(r.step_id, r.outcome) for r in path_of(engine, handle.id)] == [
        ("first", "jumped"),
        ("long", "cancelled"),
    ]
    trip = trip_row(engine, handle.id)
    assert (trip.status, trip.waiting_until) == ("cancelled", None)
