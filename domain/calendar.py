"""Calendar maths for waits, in a timezone, correct across daylight-saving changes.

All functions take and return aware UTC datetimes; the timezone only decides what
"09:00 on a Monday" or "7 days later" means on the local wall clock.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from domain.definition import WEEKDAYS, TimeWindow
from domain.durations import Duration

UTC = timezone.utc


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time.

    A time skipped by a spring-forward change (02:30 on the last Sunday of March in
    Amsterdam) is read with the offset before the change, i.e. it lands an hour later
    on the wall clock (03:30); a time that occurs twice in autumn means its first
    occurrence. Both follow zoneinfo's fold=0 rule, so the answer never goes backwards.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def is_inside(moment: datetime, window: TimeWindow, zone: ZoneInfo) -> bool:
    local = moment.astimezone(zone)
    if WEEKDAYS[local.weekday()] not in window.days:
        return False
    start = local_instant(local.date(), window.start, zone)
    end = local_instant(local.date(), window.end, zone)
    return start <= moment < end


def next_opening(moment: datetime, window: TimeWindow, zone: ZoneInfo) -> datetime:
    """`moment` itself when inside the window, else the next instant the window opens."""
    local_day = moment.astimezone(zone).date()
    for offset in range(0, 9):
        day = local_day + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in window.days:
            continue
        start = local_instant(day, window.start, zone)
        end = local_instant(day, window.end, zone)
        if moment < start:
            return start
        if moment < end:
            return moment
    raise AssertionError("a window with at least one day opens within 8 days")


def after_duration(moment: datetime, duration: Duration, zone: ZoneInfo) -> datetime:
    """`moment` plus a duration: days keep the local time of day, hours are exact.

    "Wait 7 days" from Friday 10:00 ends the next Friday at 10:00 even when the clocks
    change in between, which is what a marketer means; "wait 12 hours" is 12 real hours.
    """
    result = moment
    if duration.days:
        local = moment.astimezone(zone)
        shifted = local.date() + timedelta(days=duration.days)
        result = local_instant(shifted, local.time().replace(tzinfo=None), zone)
        if result < moment:  # only possible for a zero-day shift; kept for safety
            result = moment
    return result + duration.exact


def resolve_until(until: datetime, zone: ZoneInfo) -> datetime:
    """A wait_until moment as UTC; a moment without an offset is local to the journey."""
    if until.tzinfo is None:
        return local_instant(until.date(), until.time(), zone)
    return until.astimezone(UTC)
