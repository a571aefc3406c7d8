"""Temporal Schedules the worker keeps in place (never a scheduler of our own)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import READ_BOUNCES_WORKFLOW, SYNC_CLOSED_TRIPS_WORKFLOW

SYNC_SCHEDULE_ID = "reisplan-sync-closed-trips"
BOUNCE_SCHEDULE_ID = "reisplan-read-bounces"


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


async def ensure_bounce_schedule(
    client: Client, task_queue: str, every: timedelta | None
) -> Literal["created", "updated", "kept", "removed", "absent"]:
    """Make the bounce-mailbox schedule match the settings: reading every `every` while
    a mailbox is set, no schedule (`every` None) when not, so unsetting
    REISPLAN_BOUNCE_MAILBOX stops the reads. A changed interval or task queue updates it;
    an unchanged one is left alone (every worker replica calls this at start-up)."""
    handle = client.get_schedule_handle(BOUNCE_SCHEDULE_ID)
    if every is None:
        try:
            await handle.delete()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return "absent"
            raise
        return "removed"
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            READ_BOUNCES_WORKFLOW, id=BOUNCE_SCHEDULE_ID, task_queue=task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # A slow read (a full mailbox) is never joined by a second one on the same messages.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(BOUNCE_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        current = (await handle.describe()).schedule
        action = current.action
        if (
            isinstance(action, ScheduleActionStartWorkflow)
            and action.task_queue == task_queue
            and [i.every for i in current.spec.intervals] == [every]
        ):
            return "kept"
        await handle.update(lambda _: ScheduleUpdate(schedule=schedule))
        return "updated"
    return "created"
