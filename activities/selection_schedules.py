"""The Temporal Schedules of scheduled `selection` triggers: one per trigger of an
active journey, id `selection:{journey_id}:{trigger_index}`, made on activation and
removed on deactivation (the API calls these), like the recurring-date schedules.

Each fires at the trigger's `at` on its days, in the journey's timezone, and starts a
Selection workflow: a run of the selection at that moment, carried out by AdmitMembers.
Runs queue behind a run still busy (overlap BUFFER_ALL: each week's selection is made,
in order, so a sync_group ends on the latest); after an outage of the Temporal server
the runs missed in the last day still happen.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)

from activities.contracts.selections import (
    SELECTION_WORKFLOW,
    SelectionInput,
    selection_schedule_id,
)
from activities.recurring_schedules import MAX_TRIGGERS, delete_schedules, put_schedule
from domain.definition import JourneyDefinition
from domain.schema import WEEKDAYS
from domain.triggers import SelectionTrigger

CATCHUP_WINDOW = timedelta(days=1)
# Temporal counts the days of the week from Sunday (0).
_DAY_NUMBER = {day: (index + 1) % 7 for index, day in enumerate(WEEKDAYS)}


def scheduled(definition: JourneyDefinition) -> dict[int, SelectionTrigger]:
    """The selection triggers that run on a schedule, by index."""
    return {
        index: trigger
        for index, trigger in enumerate(definition.triggers)
        if isinstance(trigger, SelectionTrigger) and trigger.schedule is not None
    }


def selection_schedule(
    journey_id: int,
    trigger_index: int,
    trigger: SelectionTrigger,
    definition: JourneyDefinition,
    task_queue: str,
) -> Schedule:
    when = trigger.schedule
    assert when is not None
    at = when.at
    month_days = (
        [ScheduleRange(d) for d in sorted(set(when.days_of_month))]
        if when.days_of_month
        else [ScheduleRange(1, 31)]
    )
    calendar = ScheduleCalendarSpec(
        second=[ScheduleRange(at.second)],
        minute=[ScheduleRange(at.minute)],
        hour=[ScheduleRange(at.hour)],
        day_of_week=[ScheduleRange(n) for n in sorted({_DAY_NUMBER[d] for d in when.days})],
        day_of_month=month_days,
        comment=trigger.describe(),
    )
    return Schedule(
        action=ScheduleActionStartWorkflow(
            SELECTION_WORKFLOW,
            SelectionInput(journey_id=journey_id, trigger_index=trigger_index),
            id=selection_schedule_id(journey_id, trigger_index),
            task_queue=task_queue,
            static_summary=f"{definition.name}: {definition.trigger_label(trigger_index)}",
        ),
        spec=ScheduleSpec(calendars=[calendar], time_zone_name=definition.timezone),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ALL, catchup_window=CATCHUP_WINDOW
        ),
        state=ScheduleState(note=f"journey {journey_id} '{definition.name}'"),
    )


async def ensure_selection_schedules(
    client: Client, journey_id: int, definition: JourneyDefinition, task_queue: str
) -> list[str]:
    """Make the journey's selection schedules match `definition` (the version being
    activated): one per scheduled selection trigger, none for any other index. Safe to
    call again; returns the ids of the schedules in place."""
    wanted = scheduled(definition)
    ids = [
        await put_schedule(
            client,
            selection_schedule_id(journey_id, index),
            selection_schedule(journey_id, index, trigger, definition, task_queue),
        )
        for index, trigger in wanted.items()
    ]
    await delete_schedules(
        client,
        [selection_schedule_id(journey_id, i) for i in range(MAX_TRIGGERS) if i not in wanted],
    )
    return ids


async def remove_selection_schedules(client: Client, journey_id: int) -> None:
    """Remove every selection schedule of the journey; absent ones are fine."""
    await delete_schedules(
        client, [selection_schedule_id(journey_id, i) for i in range(MAX_TRIGGERS)]
    )
