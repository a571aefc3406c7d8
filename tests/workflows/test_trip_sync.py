"""A trip an operator terminates in the Web UI runs none of our code; the scheduled
sync closes it in our store so stats, waiting lists and re-entry stay true."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.engine import Engine
from temporalio.client import ScheduleIntervalSpec
from temporalio.testing import WorkflowEnvironment

from tests.conftest import running_worker
from tests.support.smtp import SmtpSink
from tests.workflows.support import add_journey, add_relation, add_template, start_trip, trip_row
from worker.schedules import SYNC_SCHEDULE_ID, ensure_trip_sync_schedule
from worker.settings import Settings

PARKED = {
    "name": "Parked",
    "steps": [
        {"id": "hold", "type": "wait", "duration": "P7D"},
        {"id": "hello", "type": "send_email", "template": "hello"},
    ],
}


async def test_terminated_trip_is_closed_by_the_sync(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    settings = settings.model_copy(update={"task_queue": f"sync-{uuid.uuid4().hex[:8]}"})
    add_template(engine, "hello", "Hello", "<p>hi</p>")
    journey = add_journey(engine, PARKED)
    stopped = add_relation(engine, email="stopped@example.org")
    waiting = add_relation(engine, email="waiting@example.org")
    client = dev_env.client
    async with running_worker(client, engine, settings):
        terminated = await start_trip(client, engine, settings.task_queue, journey, stopped)
        parked = await start_trip(client, engine, settings.task_queue, journey, waiting)
        for _ in range(100):
            if trip_row(engine, parked.id).waiting_until is not None:
                break
            await asyncio.sleep(0.05)
        await terminated.terminate("operator stopped it in the Web UI")
        assert trip_row(engine, terminated.id).status == "running"  # nothing of ours ran

        query = f"WorkflowId = '{terminated.id}' AND ExecutionStatus = 'Terminated'"
        for _ in range(100):  # visibility is eventually consistent
            if (await client.count_workflows(query)).count == 1:
                break
            await asyncio.sleep(0.05)
        closed = await client.execute_workflow(
            "SyncClosedTrips", id=f"sync-{uuid.uuid4().hex[:8]}", task_queue=settings.task_queue
        )
        assert closed == 1
        again = await client.execute_workflow(
            "SyncClosedTrips", id=f"sync-{uuid.uuid4().hex[:8]}", task_queue=settings.task_queue
        )
        assert again == 0, "a second run finds nothing left to close"

    row = trip_row(engine, terminated.id)
    assert row.status == "cancelled" and row.ended_at is not None and row.waiting_until is None
    assert trip_row(engine, parked.id).status == "running"
    await parked.terminate("test done")


async def test_the_sync_schedule_is_created_once(dev_env: WorkflowEnvironment) -> None:
    assert await ensure_trip_sync_schedule(dev_env.client, "some-queue") is True
    assert await ensure_trip_sync_schedule(dev_env.client, "some-queue") is False
    description = await dev_env.client.get_schedule_handle(SYNC_SCHEDULE_ID).describe()
    [interval] = description.schedule.spec.intervals
    assert isinstance(interval, ScheduleIntervalSpec) and interval.every.total_seconds() == 300
