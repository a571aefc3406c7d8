"""Calendar maths in the journey's timezone: windows, waits and wait-until across DST.

Amsterdam changes on 2026-03-29 (02:00 CET -> 03:00 CEST, at 01:00 UTC) and on
2026-10-25 (03:00 CEST -> 02:00 CET, at 01:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import after_duration, is_inside, next_opening, resolve_until
from domain.definition import parse_definition
from domain.durations import Duration
from domain.schema import WEEKDAYS, TimeWindow, Weekday
from domain.steps import WaitUntilStep

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
ZONES = ["Europe/Amsterdam", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]
WORKDAYS: list[Weekday] = ["mon", "tue", "wed", "thu", "fri"]
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def window(start: str, end: str, days: list[Weekday] | None = None) -> TimeWindow:
    return TimeWindow(
        days=days or list(WEEKDAYS), start=time.fromisoformat(start), end=time.fromisoformat(end)
    )


def wall(moment: datetime, zone: ZoneInfo = AMSTERDAM) -> str:
    return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None
    return offset


def _shows(wall_clock: datetime, zone: ZoneInfo) -> bool:
    """Whether the zone's clock ever shows this (naive) local time."""
    there_and_back = wall_clock.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
    return there_and_back.replace(tzinfo=None) == wall_clock


def _days_with_a_change(zone: ZoneInfo) -> list[datetime]:
    """Noon UTC on each day 2020-2035 after which the zone's offset has changed."""
    noon = utc(2020, 1, 1, 12)
    found = []
    while noon.year < 2036:
        if (
            noon.astimezone(zone).utcoffset()
            != (noon + timedelta(days=1)).astimezone(zone).utcoffset()
        ):
            found.append(noon)
        noon += timedelta(days=1)
    return found


CHANGES = {key: _days_with_a_change(ZoneInfo(key)) for key in ZONES}


# --- strategies ---------------------------------------------------------------------------


def _clock(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


@st.composite
def windows(draw: st.DrawFn) -> TimeWindow:
    days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
    if draw(st.booleans()):
        # Around the small hours, where the clocks change.
        start = draw(st.integers(0, 4 * 60))
        end = draw(st.integers(start + 1, start + 3 * 60))
    else:
        start = draw(st.integers(0, 24 * 60 - 2))
        end = draw(st.integers(start + 1, 24 * 60 - 1))
    return TimeWindow(days=days, start=_clock(start), end=_clock(end))


@st.composite
def moments(draw: st.DrawFn, zone: str) -> datetime:
    near_a_change: bool = draw(st.booleans())
    if CHANGES[zone] and near_a_change:
        # Within a few days of a DST change.
        noon = draw(st.sampled_from(CHANGES[zone]))
        return noon + timedelta(seconds=draw(st.integers(-3 * 86400, 3 * 86400)))
    return draw(st.datetimes(datetime(2020, 1, 1), datetime(2035, 12, 31), timezones=st.just(UTC)))


@st.composite
def cases(draw: st.DrawFn) -> tuple[ZoneInfo, TimeWindow, datetime]:
    key = draw(st.sampled_from(ZONES))
    return ZoneInfo(key), draw(windows()), draw(moments(key))


# --- next_opening properties ----------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(case=cases(), fractions=st.lists(st.floats(0, 1), min_size=20, max_size=20))
def test_next_opening_is_the_first_moment_inside_the_window(
    case: tuple[ZoneInfo, TimeWindow, datetime], fractions: list[float]
) -> None:
    zone, window, moment = case

    opening = next_opening(moment, window, zone)

    assert opening >= moment
    assert is_inside(opening, window, zone)
    assert opening - moment < timedelta(days=15)
    if is_inside(moment, window, zone):
        assert opening == moment
        return
    # Nothing in between was inside: just before, the last minute, and a sample.
    gap = opening - moment
    probes = [opening - timedelta(microseconds=1), opening - SECOND, opening - MINUTE]
    probes += [moment + gap * (i / 100) for i in range(100)]
    probes += [moment + gap * fraction for fraction in fractions]
    for probe in probes:
        if moment <= probe < opening:
            assert not is_inside(probe, window, zone), f"{probe} is inside before {opening}"


@settings(max_examples=300, deadline=None)
@given(case=cases())
def test_an_opening_is_at_the_window_start_on_the_local_clock(
    case: tuple[ZoneInfo, TimeWindow, datetime],
) -> None:
    zone, window, moment = case

    opening = next_opening(moment, window, zone)
    if opening == moment:
        return

    local = opening.astimezone(zone)
    if local.time() == window.start:
        return
    # Otherwise the clock jumped at that instant...
    just_before = (opening - timedelta(microseconds=1)).astimezone(zone)
    assert just_before.utcoffset() != local.utcoffset()
    start = datetime.combine(local.date(), window.start)
    if _offset(local) > _offset(just_before):
        # ...forward over the start, which did not exist that day: open within the hour after.
        assert not _shows(start, zone)
        assert start < local.replace(tzinfo=None) <= start + timedelta(hours=1)
    else:
        # ...or back, into a window it had already passed (the repeated autumn hour).
        assert just_before.time() > local.time()


@settings(max_examples=200, deadline=None)
@given(case=cases(), later=st.integers(0, 3 * 86400))
def test_arriving_later_never_opens_earlier(
    case: tuple[ZoneInfo, TimeWindow, datetime], later: int
) -> None:
    zone, window, moment = case

    first = next_opening(moment, window, zone)
    second = next_opening(moment + timedelta(seconds=later), window, zone)

    assert first <= second
    if moment + timedelta(seconds=later) <= first:
        assert second == first


# --- next_opening across DST, explicitly ----------------------------------------------


def test_saturday_night_before_spring_forward_waits_for_monday_nine_cest() -> None:
    saturday_23 = utc(2026, 3, 28, 22)  # 23:00 CET
    assert wall(saturday_23) == "Sat 2026-03-28 23:00 CET"

    opening = next_opening(saturday_23, window("09:00", "17:00", WORKDAYS), AMSTERDAM)

    assert opening == utc(2026, 3, 30, 7)  # 09:00 at UTC+2
    assert wall(opening) == "Mon 2026-03-30 09:00 CEST"


def test_saturday_night_before_fall_back_waits_for_monday_nine_cet() -> None:
    saturday_23 = utc(2026, 10, 24, 21)  # 23:00 CEST

    opening = next_opening(saturday_23, window("09:00", "17:00", WORKDAYS), AMSTERDAM)

    assert opening == utc(2026, 10, 26, 8)  # 09:00 at UTC+1
    assert wall(opening) == "Mon 2026-10-26 09:00 CET"


def test_a_window_in_the_skipped_hour_does_not_open_that_night() -> None:
    night = window("02:00", "03:00")
    sunday_midnight = utc(2026, 3, 28, 23)  # 00:00 CET on the spring-forward Sunday

    opening = next_opening(sunday_midnight, night, AMSTERDAM)

    # 02:00-03:00 never shows on the clock that Sunday: the next night's window.
    assert wall(opening) == "Mon 2026-03-30 02:00 CEST"
    assert opening == utc(2026, 3, 30, 0)
    minute = sunday_midnight
    while minute < opening:
        assert not is_inside(minute, night, AMSTERDAM), wall(minute)
        minute += MINUTE


def test_a_window_starting_in_the_skipped_hour_opens_as_the_clock_jumps() -> None:
    opening = next_opening(utc(2026, 3, 28, 23), window("02:30", "04:00"), AMSTERDAM)

    assert opening == utc(2026, 3, 29, 1)
    assert wall(opening) == "Sun 2026-03-29 03:00 CEST"


def test_the_repeated_autumn_hour_opens_a_window_twice() -> None:
    small_hours = window("02:00", "02:30")
    sunday_midnight = utc(2026, 10, 24, 22)  # 00:00 CEST

    first = next_opening(sunday_midnight, small_hours, AMSTERDAM)
    second = next_opening(first + timedelta(minutes=30), small_hours, AMSTERDAM)

    assert (first, wall(first)) == (utc(2026, 10, 25, 0), "Sun 2026-10-25 02:00 CEST")
    assert (second, wall(second)) == (utc(2026, 10, 25, 1), "Sun 2026-10-25 02:00 CET")


def test_the_clock_going_back_into_a_window_opens_it() -> None:
    # 02:40 CEST is past 01:30-02:30; at 03:00 CEST the clock goes back to 02:00 CET.
    opening = next_opening(utc(2026, 10, 25, 0, 40), window("01:30", "02:30"), AMSTERDAM)

    assert opening == utc(2026, 10, 25, 1)
    assert wall(opening) == "Sun 2026-10-25 02:00 CET"


@pytest.mark.parametrize(
    ("zone", "arrives", "opens"),
    [
        # Sydney springs forward on Sunday 2026-10-04: Friday evening waits for Monday 09:00 AEDT.
        ("Australia/Sydney", utc(2026, 10, 2, 8), utc(2026, 10, 4, 22)),
        # Sydney falls back on Sunday 2026-04-05: Monday 09:00 AEST is UTC+10.
        ("Australia/Sydney", utc(2026, 4, 3, 8), utc(2026, 4, 5, 23)),
        # New York springs forward on Sunday 2026-03-08: Monday 09:00 EDT is UTC-4.
        ("America/New_York", utc(2026, 3, 6, 23), utc(2026, 3, 9, 13)),
        # Kolkata has no DST and a half-hour offset: 09:00 IST is 03:30 UTC all year.
        ("Asia/Kolkata", utc(2026, 3, 28, 22), utc(2026, 3, 30, 3, 30)),
        ("UTC", utc(2026, 3, 28, 22), utc(2026, 3, 30, 9)),
    ],
)
def test_weekend_arrivals_wait_for_monday_nine_local(
    zone: str, arrives: datetime, opens: datetime
) -> None:
    opening = next_opening(arrives, window("09:00", "17:00", WORKDAYS), ZoneInfo(zone))

    assert opening == opens
    assert opening.astimezone(ZoneInfo(zone)).strftime("%a %H:%M") == "Mon 09:00"


def test_inside_means_what_the_local_clock_shows() -> None:
    office = window("09:00", "17:00", WORKDAYS)

    assert is_inside(utc(2026, 3, 27, 8), office, AMSTERDAM)  # Fri 09:00 CET
    assert not is_inside(utc(2026, 3, 27, 8) - SECOND, office, AMSTERDAM)  # 08:59:59
    assert is_inside(utc(2026, 3, 27, 16) - SECOND, office, AMSTERDAM)  # 16:59:59
    assert not is_inside(utc(2026, 3, 27, 16), office, AMSTERDAM)  # 17:00: closed
    assert not is_inside(utc(2026, 3, 28, 10), office, AMSTERDAM)  # Saturday
    # The weekday is the local one: Monday 00:30 in Amsterdam is still Sunday in UTC.
    assert is_inside(utc(2026, 3, 29, 22, 30), window("00:00", "01:00", ["mon"]), AMSTERDAM)
    assert not is_inside(utc(2026, 3, 29, 22, 30), window("22:00", "23:00", ["sun"]), AMSTERDAM)


def test_arriving_inside_goes_on_at_once() -> None:
    moment = utc(2026, 3, 25, 10, 17, 33, 250)

    assert next_opening(moment, window("09:00", "17:00", WORKDAYS), AMSTERDAM) == moment


# --- after_duration -------------------------------------------------------------------------


def test_seven_days_across_fall_back_keep_the_local_time() -> None:
    friday_ten = utc(2026, 10, 23, 8)  # 10:00 CEST

    by_days = after_duration(friday_ten, Duration.parse("P7D"), AMSTERDAM)
    by_hours = after_duration(friday_ten, Duration.parse("PT168H"), AMSTERDAM)

    assert by_days == utc(2026, 10, 30, 9)
    assert wall(by_days) == "Fri 2026-10-30 10:00 CET"
    assert by_hours == utc(2026, 10, 30, 8)
    assert wall(by_hours) == "Fri 2026-10-30 09:00 CET"


def test_seven_days_across_spring_forward_keep_the_local_time() -> None:
    friday_ten = utc(2026, 3, 27, 9)  # 10:00 CET

    by_days = after_duration(friday_ten, Duration.parse("P1W"), AMSTERDAM)
    by_hours = after_duration(friday_ten, Duration.parse("PT168H"), AMSTERDAM)

    assert by_days == utc(2026, 4, 3, 8)
    assert wall(by_days) == "Fri 2026-04-03 10:00 CEST"
    assert wall(by_hours) == "Fri 2026-04-03 11:00 CEST"


def test_days_then_hours() -> None:
    friday_ten = utc(2026, 3, 27, 9)

    later = after_duration(friday_ten, Duration.parse("P2DT6H"), AMSTERDAM)

    # Sunday 10:00 CEST (the days), then 6 real hours.
    assert wall(later) == "Sun 2026-03-29 16:00 CEST"


def test_a_day_later_in_the_skipped_hour_lands_after_it() -> None:
    saturday_0230 = utc(2026, 3, 28, 1, 30)  # 02:30 CET

    later = after_duration(saturday_0230, Duration.parse("P1D"), AMSTERDAM)

    assert wall(later) == "Sun 2026-03-29 03:30 CEST"


def test_weeks_from_the_repeated_autumn_hour_into_the_skipped_spring_hour() -> None:
    # 02:30 CET, the second 02:30 of the autumn night; 22 weeks on is the spring-forward
    # night of 2027, where 02:30 does not exist: the wait ends an hour later, never earlier.
    second_pass = utc(2026, 10, 25, 1, 30)
    assert wall(second_pass) == "Sun 2026-10-25 02:30 CET"

    later = after_duration(second_pass, Duration.parse("P22W"), AMSTERDAM)

    assert wall(later) == "Sun 2027-03-28 03:30 CEST"


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(ZONES),
    data=st.data(),
    days=st.integers(1, 400),
    hours=st.integers(0, 48),
)
def test_days_keep_the_wall_clock_and_hours_are_exact(
    key: str, data: st.DataObject, days: int, hours: int
) -> None:
    zone = ZoneInfo(key)
    moment = data.draw(moments(key))
    local = moment.astimezone(zone)

    exact = after_duration(moment, Duration(days=0, exact=timedelta(hours=hours or 1)), zone)
    by_days = after_duration(moment, Duration(days=days, exact=timedelta(0)), zone)

    assert exact - moment == timedelta(hours=hours or 1)
    target = by_days.astimezone(zone)
    assert target.date() == local.date() + timedelta(days=days)
    wanted = datetime.combine(target.date(), local.time())
    if _shows(wanted, zone):
        assert target.time() == local.time()
    else:  # skipped by a spring-forward change: an hour later on the clock
        assert target.replace(tzinfo=None) == wanted + timedelta(hours=1)
    assert abs(by_days - moment - timedelta(days=days)) <= timedelta(hours=1)


# --- resolve_until ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "zone", "expected"),
    [
        (datetime(2026, 6, 1, 10, 0), "Europe/Amsterdam", utc(2026, 6, 1, 8)),
        (datetime(2026, 1, 1, 10, 0), "Europe/Amsterdam", utc(2026, 1, 1, 9)),
        (datetime(2026, 6, 1, 10, 0), "Asia/Kolkata", utc(2026, 6, 1, 4, 30)),
        (datetime(2026, 6, 1, 10, 0), "Australia/Sydney", utc(2026, 6, 1, 0)),
        # Skipped by spring-forward: read an hour later on the clock (03:30 CEST).
        (datetime(2026, 3, 29, 2, 30), "Europe/Amsterdam", utc(2026, 3, 29, 1, 30)),
        # Repeated in autumn: the first 02:30 (CEST).
        (datetime(2026, 10, 25, 2, 30), "Europe/Amsterdam", utc(2026, 10, 25, 0, 30)),
        # With an offset the journey's timezone does not matter.
        (
            datetime(2026, 6, 1, 10, 0, tzinfo=ZoneInfo("Asia/Kolkata")),
            "UTC",
            utc(2026, 6, 1, 4, 30),
        ),
        (utc(2026, 6, 1, 10), "Australia/Sydney", utc(2026, 6, 1, 10)),
    ],
)
def test_resolve_until(until: datetime, zone: str, expected: datetime) -> None:
    resolved = resolve_until(until, ZoneInfo(zone))

    assert resolved == expected
    assert resolved.utcoffset() == timedelta(0)


def test_wait_until_from_a_definition_is_read_in_the_journey_timezone() -> None:
    definition = parse_definition(
        {
            "name": "Launch",
            "timezone": "America/New_York",
            "steps": [
                {"id": "launch", "type": "wait_until", "until": "2026-11-02T09:00:00"},
                {"id": "past", "type": "wait_until", "until": "2020-01-01T00:00:00+01:00"},
            ],
        }
    )
    launch, past = definition.steps
    assert isinstance(launch, WaitUntilStep) and isinstance(past, WaitUntilStep)

    # 09:00 EST, the day after New York's clocks went back.
    assert resolve_until(launch.until, definition.zone) == utc(2026, 11, 2, 14)
    # A moment already passed stays in the past, so arriving trips go straight on.
    arrival = utc(2026, 5, 1, 12)
    assert resolve_until(past.until, definition.zone) == utc(2019, 12, 31, 23)
    assert resolve_until(past.until, definition.zone) < arrival


def test_windows_are_read_on_the_given_day_not_a_fixed_offset() -> None:
    # The same 09:00 window opens at 08:00 UTC in winter and 07:00 UTC in summer.
    office = window("09:00", "17:00", WORKDAYS)
    winter = next_opening(
        datetime.combine(date(2026, 1, 5), time(0), tzinfo=UTC), office, AMSTERDAM
    )
    summer = next_opening(
        datetime.combine(date(2026, 7, 6), time(0), tzinfo=UTC), office, AMSTERDAM
    )

    assert (winter.hour, summer.hour) == (8, 7)
