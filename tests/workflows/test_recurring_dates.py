"""Recurring dates through Temporal: the Schedules that activation makes and
deactivation removes and their backfilled runs (dev server), and a birthday journey
over two simulated years (time-skipping server)."""

from __future__ import annotations

import asyncio
import time
import uuid
from calendar import isleap
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    ScheduleRange,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.contracts import RECURRING_DATE_WORKFLOW, RecurringDateInput, RecurringRunResult
from activities.recurring_schedules import (
    CATCHUP_WINDOW,
    MAX_TRIGGERS,
    ensure_recurring_schedules,
    remove_recurring_schedules,
)
from domain.calendar import local_instant
from domain.definition import parse_definition
from store.db import session_scope
from store.models import AdmissionRun, Trip
from tests.conftest import running_worker
from tests.support.smtp import SmtpSink
from tests.workflows.support import add_journey, add_relation, add_template
from worker.settings import Settings

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
STEPS = [{"id": "congratulate", "type": "send_email", "template": "birthday"}]


def definition_with(triggers: list[dict[str, Any]], timezone: str = "Europe/Amsterdam") -> Any:
    return parse_definition(
        {"name": "Birthdays", "timezone": timezone, "triggers": triggers, "steps": STEPS}
    )


async def schedule_exists(client: Client, schedule_id: str) -> bool:
    try:
        await client.get_schedule_handle(schedule_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_activation_makes_the_schedules_and_deactivation_removes_them(
    dev_env: WorkflowEnvironment,
) -> None:
    client = dev_env.client
    definition = definition_with(
        [
            {"type": "manual"},
            {"type": "recurring_date", "field": "birth_date", "days_before": 2, "at": "08:15"},
            {"type": "recurring_date", "field": "contract_renewal"},
        ],
        timezone="America/New_York",
    )
    ids = await ensure_recurring_schedules(client, 7, definition, "queue-a")
    assert ids == ["recurring:7:1", "recurring:7:2"]

    described = await client.get_schedule_handle("recurring:7:1").describe()
    schedule = described.schedule
    [calendar] = schedule.spec.calendars
    assert isinstance(calendar, ScheduleCalendarSpec)
    assert (calendar.hour, calendar.minute, calendar.second) == (
        (ScheduleRange(8),),
        (ScheduleRange(15),),
        (ScheduleRange(0),),
    )
    assert calendar.day_of_month == (ScheduleRange(1, 31),)  # every day
    assert schedule.spec.time_zone_name == "America/New_York"
    assert schedule.policy.overlap == ScheduleOverlapPolicy.BUFFER_ALL
    assert schedule.policy.catchup_window == CATCHUP_WINDOW == timedelta(days=1)
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.id, action.task_queue) == (
        "RecurringDate",
        "recurring:7:1",
        "queue-a",
    )
    [arg] = await client.data_converter.decode(action.args, [RecurringDateInput])
    assert arg == RecurringDateInput(journey_id=7, trigger_index=1)
    new_york = ZoneInfo("America/New_York")
    for moment in described.info.next_action_times[:3]:
        local = moment.astimezone(new_york)
        assert (local.hour, local.minute, local.second) == (8, 15, 0)

    # Re-activation of an edited version: the birthday moves to 10:00 (and Amsterdam),
    # the contract trigger is gone, so is its schedule.
    edited = definition_with(
        [
            {"type": "manual"},
            {"type": "recurring_date", "field": "birth_date", "days_before": 2, "at": "10:00"},
        ]
    )
    assert await ensure_recurring_schedules(client, 7, edited, "queue-a") == ["recurring:7:1"]
    assert not await schedule_exists(client, "recurring:7:2")
    updated = (await client.get_schedule_handle("recurring:7:1").describe()).schedule
    [calendar] = updated.spec.calendars
    assert (calendar.hour, calendar.minute) == ((ScheduleRange(10),), (ScheduleRange(0),))
    assert updated.spec.time_zone_name == "Europe/Amsterdam"

    await remove_recurring_schedules(client, 7)
    assert not await schedule_exists(client, "recurring:7:1")
    await remove_recurring_schedules(client, 7)  # nothing left: still fine


def test_every_trigger_index_is_covered_by_removal() -> None:
    manual: dict[str, Any] = {"type": "manual"}
    definition_with([manual] * MAX_TRIGGERS)
    with pytest.raises(ValueError, match="at most"):
        definition_with([manual] * (MAX_TRIGGERS + 1))


async def settled(check: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> bool:
    """Poll in real time until `check` holds; False when it did not in time."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def leap_day(year: int) -> str:
    """The day someone born on 29 February has their birthday (domain/recurring.py)."""
    return "02-29" if isleap(year) else "02-28"


def add_birthday_journey(engine: Engine, reentry: str, days_before: int) -> tuple[int, Any]:
    add_template(engine, "birthday", "Happy birthday!", "<p>Congratulations</p>")
    return add_journey(
        engine,
        {
            "name": "Birthday mail",
            "timezone": "Europe/Amsterdam",
            "reentry": reentry,
            "triggers": [
                {
                    "type": "recurring_date",
                    "field": "birth_date",
                    "days_before": days_before,
                    "at": "09:00",
                }
            ],
            "steps": STEPS,
        },
    )


def run_keys(engine: Engine, journey_id: int) -> set[str]:
    with session_scope(engine) as session:
        query = select(AdmissionRun.key).where(AdmissionRun.journey_id == journey_id)
        return set(session.exec(query).all())


def trip_keys(engine: Engine) -> Counter[str | None]:
    with session_scope(engine) as session:
        return Counter(session.exec(select(Trip.admission_key)).all())


def mails_to(smtp: SmtpSink) -> Counter[str]:
    return Counter(str(message["To"]) for message in smtp.messages)


async def test_a_backfilled_run_admits_the_dates_of_its_scheduled_day(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    """The journey's own Schedule, backfilled over the end of February 2027 and 2028:
    each RecurringDate takes its day from the time Temporal scheduled it for (today is
    neither), and 29 February comes round on the 28th in 2027. Backfilling a day again
    admits nobody twice. (Re-entry `always`: this test is about days, not re-entry.)"""
    settings = settings.model_copy(update={"task_queue": f"recurring-{uuid.uuid4().hex[:8]}"})
    client = dev_env.client
    people = {
        "leap@example.org": date(1992, 2, 29),
        "feb28@example.org": date(1980, 2, 28),
        "march@example.org": date(1970, 3, 1),
    }
    for address, born in people.items():
        add_relation(engine, email=address, birth_date=born)
    journey_id, definition = add_birthday_journey(engine, "always", days_before=0)
    [schedule_id] = await ensure_recurring_schedules(
        client, journey_id, definition, settings.task_queue
    )
    handle = client.get_schedule_handle(schedule_id)
    await handle.pause(note="only the backfills run in this test")

    def run_days(first: date, last: date) -> ScheduleBackfill:
        # 09:00 in Amsterdam is 08:00 UTC in winter; the start is exclusive.
        return ScheduleBackfill(
            start_at=datetime.combine(first, datetime.min.time(), UTC),
            end_at=datetime.combine(last, datetime.max.time(), UTC),
        )

    done = "WorkflowType = 'RecurringDate' AND ExecutionStatus = 'Completed'"
    async with running_worker(client, engine, settings):
        await handle.backfill(
            run_days(date(2027, 2, 27), date(2027, 3, 1)),
            run_days(date(2028, 2, 27), date(2028, 3, 1)),
        )

        async def all_ran() -> bool:
            finished = (await client.count_workflows(done)).count
            return finished == 7 and sum(mails_to(smtp_sink).values()) == 6

        assert await settled(all_ran), f"{mails_to(smtp_sink)}"
        assert run_keys(engine, journey_id) == {
            "date:0:2027-02-28",  # 28 February, and 29 February in a year without one
            "date:0:2027-03-01",
            "date:0:2028-02-28",
            "date:0:2028-02-29",
            "date:0:2028-03-01",
        }
        assert mails_to(smtp_sink) == {address: 2 for address in people}
        assert trip_keys(engine) == {"date:0:2027": 3, "date:0:2028": 3}

        # The same day once more (an operator's overlapping backfill): nobody twice.
        await handle.backfill(run_days(date(2028, 2, 29), date(2028, 2, 29)))
        assert await settled(lambda: _count_is(client, done, 8))
        await asyncio.sleep(0.3)  # a mail it wrongly caused would be here by now
    assert mails_to(smtp_sink) == {address: 2 for address in people}
    assert len(run_keys(engine, journey_id)) == 5


async def _count_is(client: Client, query: str, expected: int) -> bool:
    return (await client.count_workflows(query)).count == expected


def simulated_years(now: datetime) -> int:
    """The first of two whole years ahead of the test server's clock (which starts at
    the real time and only moves forward), one of them a leap year."""
    year = now.year + 1
    if date(year - 1, 12, 30) <= now.date():
        year += 1
    while not (isleap(year) or isleap(year + 1)):
        year += 1
    return year


BIRTHDAYS = {
    "leap@example.org": date(1992, 2, 29),
    "new-years-eve@example.org": date(1985, 12, 31),
    "new-year@example.org": date(2000, 1, 1),
    "march@example.org": date(1970, 3, 1),
}


async def test_a_birthday_journey_over_two_years_sends_two_mails_each(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    """Two years of daily runs, with real parts from RecurringDate on: its activity,
    AdmitMembers, admission, the trips and SMTP, with mail two days ahead of each
    birthday (so the first runs are in the December before).

    Why on the time-skipping server, starting RecurringDate for each of the 731 days at
    09:00 Amsterdam time ourselves: the dev server's scheduler starts backfilled runs at
    only ~7-9 a second (measured: 731 days took over 80 s), and the time-skipping server
    has no Schedules. Standing in for the Schedule costs one start per day; the runs then
    read their day from the (skipped) clock, the path of a run started by hand. That a
    scheduled run reads its scheduled day instead is the backfill test above. 15-25 s
    on 2 cores, nearly all of it the 731 runs (20-32 ms each).

    The default re-entry, `never`: a recurring date admits once a year whatever the
    setting (domain/triggers.py, RecurringDateTrigger).
    """
    client = time_env.client
    for address, born in BIRTHDAYS.items():
        add_relation(engine, email=address, birth_date=born)
    add_relation(engine, email="no-birthday@example.org")
    journey_id, _ = add_birthday_journey(engine, "never", days_before=2)
    year = simulated_years(await time_env.get_current_time())
    first_run = date(year - 1, 12, 30)  # mails for 1 January go out on 30 December
    days = (date(year + 2, 1, 1) - date(year, 1, 1)).days
    assert days in (730, 731)

    # The clock moves only by the sleeps below: waiting for a result must not skip it
    # (to the far timer of some other workflow).
    with time_env.auto_time_skipping_disabled():
        async with running_worker(client, engine, settings):
            clock = await time_env.get_current_time()
            for n in range(days):
                moment = local_instant(first_run + timedelta(days=n), dt_time(9), AMSTERDAM)
                # The clock runs ahead by the real time each run takes (ms): still 09:00.
                await time_env.sleep(moment - clock)
                clock = moment
                await client.execute_workflow(
                    RECURRING_DATE_WORKFLOW,
                    RecurringDateInput(journey_id=journey_id, trigger_index=0),
                    id=f"recurring:{journey_id}:0-{moment:%Y-%m-%dT%H:%M:%SZ}",
                    task_queue=settings.task_queue,
                    result_type=RecurringRunResult,
                )

            async def all_mailed() -> bool:
                return sum(mails_to(smtp_sink).values()) >= 2 * len(BIRTHDAYS)

            await settled(all_mailed, seconds=10)
            await asyncio.sleep(0.3)  # nothing more may arrive

    assert mails_to(smtp_sink) == {address: 2 for address in BIRTHDAYS}
    assert run_keys(engine, journey_id) == {
        f"date:0:{year}-01-01",
        f"date:0:{year}-{leap_day(year)}",
        f"date:0:{year}-03-01",
        f"date:0:{year}-12-31",
        f"date:0:{year + 1}-01-01",
        f"date:0:{year + 1}-{leap_day(year + 1)}",
        f"date:0:{year + 1}-03-01",
        f"date:0:{year + 1}-12-31",
    }
    assert trip_keys(engine) == {f"date:0:{year}": 4, f"date:0:{year + 1}": 4}
