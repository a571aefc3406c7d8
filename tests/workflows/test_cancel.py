"""A cancelled trip stops where it is and says so in the store, whatever it was doing."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.engine import Engine
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import is_cancelled_exception
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


async def test_cancel_while_a_send_is_retrying_stops_the_trip(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    # The relay keeps answering "try again later", so the send sits in retry backoff.
    smtp_sink.handler.refuse["busy@example.org"] = "451 4.3.0 try again later"
    add_template(engine, "first", "First", "<p>1</p>")
    add_template(engine, "second", "Second", "<p>2</p>")
    relation_id = add_relation(engine, email="busy@example.org")
    journey = add_journey(
        engine,
        {
            "name": "Cancelled mid-send",
            "steps": [
                {"id": "first", "type": "send_email", "template": "first"},
                {"id": "pause", "type": "wait", "duration": "PT1H"},
                {"id": "second", "type": "send_email", "template": "second"},
            ],
        },
    )
    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        for _ in range(200):
            if smtp_sink.handler.refused:
                break
            await asyncio.sleep(0.05)
        assert smtp_sink.handler.refused == ["busy@example.org"], "the send was never tried"
        await asyncio.sleep(0.3)  # the attempt has failed and the retry is in backoff
        assert [s.status for s in sends_of(engine, handle.id)] == ["claimed"]
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert is_cancelled_exception(failure.value.cause)

    trip = trip_row(engine, handle.id)
    assert trip.status == "cancelled" and trip.ended_at is not None
    # It did not carry on to the next steps as if the send had merely failed.
    assert [row.step_id for row in path_of(engine, handle.id)] == ["first"]
    assert smtp_sink.messages == []
