"""The Temporal Schedules of recurring_date triggers: one per trigger of an active
journey, id `recurring:{journey_id}:{trigger_index}`, made on activation and removed on
deactivation (the API calls these).

Each fires every day at the trigger's `at` in the journey's timezone and starts a
RecurringDate workflow, which admits the dates of the day it was scheduled for.

No day is lost:
- Overlap BUFFER_ALL: a day whose run is still busy (a large fan-out, a database that is
  down) queues the next days instead of skipping them; they run in order afterwards.
- Catch-up window of one day: after the Temporal server itself was down, the runs it
  missed in the last day still happen (late, for their own day). Longer outages are
  not caught up by themselves, so that a week-old birthday mail does not go out unasked;
  an operator backfills them (`temporal schedule backfill --schedule-id recurring:J:I
  --start-time ... --end-time ...`); runs are keyed by day, so overlapping a day that
  did run admits nobody twice.
- A day on which `at` does not exist on the local clock (02:30 when the clocks spring
  forward) gets no run from Temporal; the next day's run covers it
  (domain.recurring.days_of_run). In autumn Temporal runs once, at the first 02:30.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import (
    RECURRING_DATE_WORKFLOW,
    RecurringDateInput,
    recurring_schedule_id,
)
from domain.definition import JourneyDefinition
from domain.triggers import RecurringDateTrigger

CATCHUP_WINDOW = timedelta(days=1)
# A definition has at most this many triggers (JourneyDefinition.triggers): removal
# tries every index, which needs no (eventually consistent) listing of schedules.
MAX_TRIGGERS = 50


def recurring_schedule(
    journey_id: int,
    trigger_index: int,
    trigger: RecurringDateTrigger,
    definition: JourneyDefinition,
    task_queue: str,
) -> Schedule:
    at = trigger.at
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RECURRING_DATE_WORKFLOW,
            RecurringDateInput(journey_id=journey_id, trigger_index=trigger_index),
            id=recurring_schedule_id(journey_id, trigger_index),
            task_queue=task_queue,
            static_summary=f"{definition.name}: {definition.trigger_label(trigger_index)}",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    second=[ScheduleRange(at.second)],
                    minute=[ScheduleRange(at.minute)],
                    hour=[ScheduleRange(at.hour)],
                    comment=trigger.describe(),
                )
            ],
            time_zone_name=definition.timezone,
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ALL, catchup_window=CATCHUP_WINDOW
        ),
        state=ScheduleState(note=f"journey {journey_id} '{definition.name}'"),
    )


async def ensure_recurring_schedules(
    client: Client, journey_id: int, definition: JourneyDefinition, task_queue: str
) -> list[str]:
    """Make the journey's schedules match `definition` (the version being activated):
    create or replace one per recurring_date trigger, remove any other. Safe to call
    again; returns the ids of the schedules in place."""
    wanted = {
        index: trigger
        for index, trigger in enumerate(definition.triggers)
        if isinstance(trigger, RecurringDateTrigger)
    }
    ids = [
        await put_schedule(
            client,
            recurring_schedule_id(journey_id, index),
            recurring_schedule(journey_id, index, trigger, definition, task_queue),
        )
        for index, trigger in wanted.items()
    ]
    # A trigger that was removed or changed type since the last activation.
    await _delete(client, journey_id, [i for i in range(MAX_TRIGGERS) if i not in wanted])
    return ids


async def remove_recurring_schedules(client: Client, journey_id: int) -> None:
    """Remove every recurring-date schedule of the journey; absent ones are fine."""
    await _delete(client, journey_id, range(MAX_TRIGGERS))


async def put_schedule(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create the schedule, or replace the one of that id (shared by every kind of
    journey schedule)."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        # Re-activation: the new version may change the time, zone or field. Replacing
        # the schedule keeps its id and recent runs; it also unpauses it.
        await client.get_schedule_handle(schedule_id).update(
            lambda _: ScheduleUpdate(schedule=schedule)
        )
    return schedule_id


async def delete_schedules(client: Client, schedule_ids: list[str]) -> None:
    """Delete these schedules; absent ones are fine."""

    async def one(schedule_id: str) -> None:
        try:
            await client.get_schedule_handle(schedule_id).delete()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise

    await asyncio.gather(*(one(i) for i in schedule_ids))


async def _delete(client: Client, journey_id: int, indexes: range | list[int]) -> None:
    await delete_schedules(client, [recurring_schedule_id(journey_id, i) for i in indexes])
