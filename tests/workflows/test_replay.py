"""A finished trip's history replays without nondeterminism: what a worker does after a
restart, a cache eviction or a deploy, for every trip still running."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.conftest import running_worker
from tests.support.smtp import SmtpSink
from tests.workflows.support import (
    add_journey,
    add_relation,
    add_template,
    start_trip,
    update_relation,
)
from worker.settings import Settings
from workflows.trip import TripWorkflow

EVERY_KIND_OF_STEP = {
    "name": "All step types",
    "timezone": "Europe/Amsterdam",
    "send_window": {"start": "00:00", "end": "23:59"},
    "steps": [
        {"id": "hello", "type": "send_email", "template": "hello"},
        {"id": "a_day", "type": "wait", "duration": "P1D"},
        {"id": "long_ago", "type": "wait_until", "until": "2020-01-01T09:00:00"},
        {"id": "office", "type": "wait_window", "start": "09:00", "end": "17:00"},
        {
            "id": "member",
            "type": "if",
            "condition": {"field": "member_since", "op": "is_set"},
            "then": "skip",
            "else": "nudge",
        },
        {"id": "nudge", "type": "send_email", "template": "hello"},
        {"id": "skip", "type": "jump", "target": "done"},
        {"id": "done", "type": "exit"},
    ],
}


async def test_trip_histories_replay_deterministically(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    add_template(engine, "hello", "Hello", "<p>Hello</p>")
    journey = add_journey(engine, EVERY_KIND_OF_STEP)
    member = add_relation(engine, email="member@example.org")
    other = add_relation(engine, email="other@example.org")
    async with running_worker(time_env.client, engine, settings):
        handles = [
            await start_trip(time_env.client, engine, settings.task_queue, journey, member),
            await start_trip(time_env.client, engine, settings.task_queue, journey, other),
        ]
        await time_env.sleep(timedelta(hours=1))
        update_relation(engine, member, custom={"member_since": "2026-01-01"})
        for handle in handles:
            await handle.result()
        histories = [await handle.fetch_history() for handle in handles]

    replayer = Replayer(workflows=[TripWorkflow], data_converter=pydantic_data_converter)
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure
    assert len(smtp_sink.to("member@example.org")) == 1
    assert len(smtp_sink.to("other@example.org")) == 2
