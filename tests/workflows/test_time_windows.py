"""Time windows and the send window, in the journey's timezone, across DST changes.

A `wait_until` first moves each trip to a chosen local moment (the time-skipping
server starts at today's date), then the window decides when it goes on.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from tests.conftest import running_worker
from tests.support.smtp import SmtpSink
from tests.workflows.support import (
    add_journey,
    add_relation,
    add_template,
    path_of,
    start_trip,
    trip_row,
)
from worker.settings import Settings

UTC = UTC


def _window_journey(arrive_local: str) -> dict[str, object]:
    return {
        "name": "Office hours call-back",
        "timezone": "Europe/Amsterdam",
        "steps": [
            {"id": "arrive", "type": "wait_until", "until": arrive_local},
            {
                "id": "office_hours",
                "type": "wait_window",
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "start": "09:00",
                "end": "12:00",
            },
            {"id": "call_me", "type": "send_email", "template": "call_me"},
        ],
    }


def _last_sunday(year: int, month: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - 6) % 7)


def _next_change(month: int, today: date) -> date:
    """The next Amsterdam DST change (last Sunday of March or October) a week or more ahead.

    The time-skipping server starts at today's date, so the cases are built around the
    next real change instead of a fixed year that would one day lie in the past.
    """
    change = _last_sunday(today.year, month)
    return change if change - today >= timedelta(days=7) else _last_sunday(today.year + 1, month)


def _at(day: date, clock: str) -> str:
    return f"{day.isoformat()}T{clock}"


def _utc(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _case(name: str, today: date) -> tuple[str, datetime, bool]:
    spring, autumn = _next_change(3, today), _next_change(10, today)
    tuesday_before = spring - timedelta(days=5)  # still winter time, UTC+1
    cases = {
        # Tuesday 10:00 CET is inside workdays 9-12: straight on.
        "inside": (_at(tuesday_before, "10:00:00"), _utc(tuesday_before, 9), False),
        # Tuesday 07:30 CET: later that morning, 09:00 CET.
        "later-same-day": (_at(tuesday_before, "07:30:00"), _utc(tuesday_before, 8), True),
        # Friday 15:00 CET, clocks go forward on Sunday: Monday 09:00 CEST = 07:00 UTC.
        "across-spring-forward": (
            _at(spring - timedelta(days=2), "15:00:00"),
            _utc(spring + timedelta(days=1), 7),
            True,
        ),
        # Friday 18:00 CEST, clocks go back on Sunday: Monday 09:00 CET = 08:00 UTC.
        "across-fall-back": (
            _at(autumn - timedelta(days=2), "18:00:00"),
            _utc(autumn + timedelta(days=1), 8),
            True,
        ),
    }
    return cases[name]


@pytest.mark.parametrize(
    "case", ["inside", "later-same-day", "across-spring-forward", "across-fall-back"]
)
async def test_wait_window_goes_on_at_the_next_local_opening(
    time_env: WorkflowEnvironment,
    engine: Engine,
    settings: Settings,
    smtp_sink: SmtpSink,
    case: str,
) -> None:
    today = (await time_env.get_current_time()).date()
    arrive_local, goes_on_utc, waited = _case(case, today)
    add_template(engine, "call_me", "We will call you", "<p>Soon</p>")
    relation_id = add_relation(engine, email="caller@example.org")
    journey = add_journey(engine, _window_journey(arrive_local))

    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        await handle.result()

    path = {row.step_id: row for row in path_of(engine, handle.id)}
    window = path["office_hours"]
    assert window.outcome == ("waited" if waited else "inside_window")
    if waited:
        assert window.waiting_until == goes_on_utc
    sent_at = path["call_me"].entered_at
    assert goes_on_utc <= sent_at < goes_on_utc + timedelta(minutes=1)
    assert len(smtp_sink.to("caller@example.org")) == 1


async def test_send_waits_for_the_journey_send_window(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    spring = _next_change(3, (await time_env.get_current_time()).date())
    saturday = spring - timedelta(days=1)
    add_template(engine, "news", "Weekly news", "<p>News</p>")
    relation_id = add_relation(engine, email="weekend@example.org")
    journey = add_journey(
        engine,
        {
            "name": "No mail at the weekend",
            "timezone": "Europe/Amsterdam",
            "send_window": {
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "start": "09:00",
                "end": "17:00",
            },
            "steps": [
                {"id": "saturday", "type": "wait_until", "until": f"{saturday}T10:00:00+01:00"},
                {"id": "news", "type": "send_email", "template": "news"},
            ],
        },
    )
    monday_nine = _utc(spring + timedelta(days=1), 7)  # 09:00 CEST, after the change

    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        sunday = _utc(spring, 12)
        await time_env.sleep(sunday - await time_env.get_current_time())
        await asyncio.sleep(0.5)
        waiting = path_of(engine, handle.id)[-1]
        assert waiting.step_id == "news" and waiting.outcome == "waiting"
        assert waiting.waiting_until == monday_nine
        assert trip_row(engine, handle.id).current_step == "news"
        assert smtp_sink.messages == []
        await handle.result()

    assert len(smtp_sink.to("weekend@example.org")) == 1
    ended = trip_row(engine, handle.id).ended_at
    assert ended is not None and monday_nine <= ended < monday_nine + timedelta(minutes=1)
    assert path_of(engine, handle.id)[-1].outcome == "sent"
