"""Temporal Schedules the worker keeps in place (never a scheduler of our own)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from activities.contracts import SYNC_CLOSED_TRIPS_WORKFLOW

SYNC_SCHEDULE_ID = "reisplan-sync-closed-trips"


async def ensure_trip_sync_schedule(
    client: Client, task_queue: str, every: timedelta = timedelta(minutes=5)
) -> bool:
    """Create the schedule unless it exists; True when it was created. Every worker
    replica calls this at start-up, so an existing schedule is left as it is."""
    try:
        await client.create_schedule(
            SYNC_SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    SYNC_CLOSED_TRIPS_WORKFLOW, id=SYNC_SCHEDULE_ID, task_queue=task_queue
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            ),
        )
    except ScheduleAlreadyRunningError:
        return False
    return True
