"""What an operator sees in the Temporal Web UI: ids, search attributes, summaries."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.engine import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from tests.conftest import running_worker
from tests.support.smtp import SmtpSink
from tests.workflows.support import add_journey, add_relation, add_template, start_trip
from worker.settings import Settings


async def test_trip_reads_well_in_the_web_ui(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    settings = settings.model_copy(update={"task_queue": f"ui-{uuid.uuid4().hex[:8]}"})
    add_template(engine, "welcome", "Welcome", "<p>Hi</p>")
    relation_id = add_relation(engine, email="ui@example.org")
    journey = add_journey(
        engine,
        {
            "name": "Welcome new members",
            "steps": [
                {"id": "welcome", "type": "send_email", "template": "welcome"},
                {"id": "wait_week", "type": "wait", "duration": "P7D", "name": "Give it a week"},
                {"id": "bye", "type": "exit"},
            ],
        },
    )
    client = dev_env.client
    async with running_worker(client, engine, settings):
        handle = await start_trip(client, engine, settings.task_queue, journey, relation_id)
        assert handle.id == f"trip:{journey[0]}:{relation_id}:1"
        step = SearchAttributeKey.for_keyword("Step")
        for _ in range(100):
            description = await handle.describe()
            if description.typed_search_attributes.get(step) == "wait_week":
                break
            await asyncio.sleep(0.1)
        assert description.typed_search_attributes.get(step) == "wait_week"
        assert await description.static_summary() == f"Welcome new members · relation {relation_id}"

        # The Step attribute changes before the timer is started: wait for the timer.
        for _ in range(100):
            history = await handle.fetch_history()
            if any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in history.events):
                break
            await asyncio.sleep(0.1)
        summaries = [
            event.user_metadata.summary.data.decode()
            for event in history.events
            if event.HasField("user_metadata") and event.user_metadata.HasField("summary")
        ]
        timer_events = [
            e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        ]
        assert len(timer_events) == 1
        assert any("Give it a week: wait 1 week" in s for s in summaries), summaries
        assert any("send welcome" in s for s in summaries), summaries

        # Operators count and find trips by journey and step through the visibility store.
        query = f"JourneyId = '{journey[0]}' AND Step = 'wait_week' AND ExecutionStatus = 'Running'"
        for _ in range(50):
            if (await client.count_workflows(query)).count == 1:
                break
            await asyncio.sleep(0.1)
        assert (await client.count_workflows(query)).count == 1
        await handle.terminate("test done")
