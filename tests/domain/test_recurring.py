"""Recurring dates: every date has exactly one anniversary a year, on the right day,
29 February included, and no day is lost to a clock change."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.recurring import (
    admission_key,
    admission_year,
    anniversary,
    days_of_run,
    local_run_day,
    month_days,
    occurs,
    run_key,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
YEARS = [2027, 2028, 2100, 2000, 2024]  # 2028, 2000, 2024 leap; 2100 not (divisible by 100)
DAYS_BEFORE = [0, 1, 2, 3, 30, 59, 364, 365]


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


# Every month-day a date of birth can have.
ALL_MONTH_DAYS = [d.strftime("%m-%d") for d in days_of(2028)]


def expected_anniversary(month_day: str, year: int) -> date:
    month, day = map(int, month_day.split("-"))
    if (month, day) == (2, 29) and year not in (2028, 2000, 2024):
        return date(year, 2, 28)
    return date(year, month, day)


@pytest.mark.parametrize("year", YEARS)
@pytest.mark.parametrize("days_before", DAYS_BEFORE)
def test_every_date_has_one_anniversary_a_year_on_the_right_day(
    year: int, days_before: int
) -> None:
    """Run on every day whose anniversary lies in `year` (for days_before > 0 the first
    runs are in the year before: the year end is crossed)."""
    seen: dict[str, list[date]] = {}
    for target in days_of(year):
        run_day = target - timedelta(days=days_before)
        assert anniversary(run_day, days_before) == target
        assert admission_year(run_day, days_before) == year
        for month_day in month_days(target):
            seen.setdefault(month_day, []).append(target)
    assert sorted(seen) == ALL_MONTH_DAYS
    for month_day, found in seen.items():
        assert found == [expected_anniversary(month_day, year)], month_day


def test_29_february() -> None:
    assert month_days(date(2027, 2, 28)) == ["02-28", "02-29"]
    assert month_days(date(2100, 2, 28)) == ["02-28", "02-29"]
    assert month_days(date(2028, 2, 28)) == ["02-28"]
    assert month_days(date(2028, 2, 29)) == ["02-29"]
    assert month_days(date(2000, 2, 28)) == ["02-28"]
    assert month_days(date(2027, 3, 1)) == ["03-01"]
    assert month_days(date(2028, 3, 1)) == ["03-01"]


def test_a_run_in_december_admits_for_next_year() -> None:
    run_day = date(2026, 12, 30)
    assert anniversary(run_day, 3) == date(2027, 1, 2)
    assert admission_year(run_day, 3) == 2027
    assert month_days(anniversary(run_day, 3)) == ["01-02"]
    assert run_key(0, anniversary(run_day, 3)) == "date:0:2027-01-02"
    assert admission_key(0, 2027) == "date:0:2027"
    # A year ahead: the run of 28 February 2027 admits the 2028 anniversaries of 28 Feb.
    assert anniversary(date(2027, 2, 28), 365) == date(2028, 2, 28)
    assert month_days(date(2028, 2, 28)) == ["02-28"]


def test_the_local_run_day_is_read_in_the_journey_timezone() -> None:
    assert local_run_day(datetime(2027, 3, 29, 0, 30, tzinfo=UTC), AMSTERDAM) == date(2027, 3, 29)
    assert local_run_day(datetime(2027, 6, 30, 22, 30, tzinfo=UTC), AMSTERDAM) == date(2027, 7, 1)
    new_york = ZoneInfo("America/New_York")
    assert local_run_day(datetime(2027, 1, 1, 3, 0, tzinfo=UTC), new_york) == date(2026, 12, 31)
    with pytest.raises(ValueError, match="offset"):
        local_run_day(datetime(2027, 1, 1, 9, 0), AMSTERDAM)


def test_a_time_in_the_spring_gap_does_not_occur_and_the_next_run_covers_it() -> None:
    # Amsterdam: 2027-03-28 02:00 CET -> 03:00 CEST; 2027-10-31 03:00 CEST -> 02:00 CET.
    assert not occurs(date(2027, 3, 28), time(2, 30), AMSTERDAM)
    assert occurs(date(2027, 3, 28), time(3, 0), AMSTERDAM)
    assert occurs(date(2027, 10, 31), time(2, 30), AMSTERDAM)  # twice, in fact
    assert days_of_run(date(2027, 3, 29), time(2, 30), AMSTERDAM) == [
        date(2027, 3, 28),
        date(2027, 3, 29),
    ]
    assert days_of_run(date(2027, 3, 29), time(9, 0), AMSTERDAM) == [date(2027, 3, 29)]
    assert days_of_run(date(2027, 11, 1), time(2, 30), AMSTERDAM) == [date(2027, 11, 1)]
    # Samoa skipped 30 December 2011 altogether.
    apia = ZoneInfo("Pacific/Apia")
    assert days_of_run(date(2011, 12, 31), time(9, 0), apia) == [
        date(2011, 12, 30),
        date(2011, 12, 31),
    ]


@pytest.mark.parametrize(
    "zone",
    [
        "Europe/Amsterdam",
        "America/New_York",
        "America/Santiago",  # changes at midnight: 00:30 is skipped
        "Australia/Lord_Howe",  # half-hour change
        "Pacific/Apia",  # skipped a whole day
        "UTC",
    ],
)
@pytest.mark.parametrize("at", [time(0, 0), time(0, 30), time(2, 0), time(2, 30), time(9, 0)])
def test_the_days_the_schedule_fires_cover_every_day_once(zone: str, at: time) -> None:
    """Temporal fires on the days where `at` occurs; together those runs stand for every
    day exactly once (2011 has Samoa's skipped day; 2027 and 2028 the usual changes)."""
    tz = ZoneInfo(zone)
    covered: Counter[date] = Counter()
    days = days_of(2011) + days_of(2027) + days_of(2028)
    for day in days:
        if occurs(day, at, tz):
            covered.update(days_of_run(day, at, tz))
    first_fired = next(day for day in days if occurs(day, at, tz))
    assert all(covered[day] == 1 for day in days if day >= first_fired)
    assert set(covered) <= set(days) | {date(2010, 12, 31), date(2026, 12, 31)}
