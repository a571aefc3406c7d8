"""Calendar maths for waits, in a timezone, correct across daylight-saving changes.

All functions take and return aware UTC datetimes; the timezone only decides what
"09:00 on a Monday" or "7 days later" means on the local wall clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.durations import Duration
from domain.schema import WEEKDAYS, TimeWindow

# How far around a local day offset changes are looked for (a skipped midnight).
_MARGIN = timedelta(hours=2)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time.

    A time skipped by a spring-forward change (02:30 on the last Sunday of March in
    Amsterdam) is read with the offset before the change, i.e. it lands an hour later
    on the wall clock (03:30); a time that occurs twice in autumn means its first
    occurrence. Both follow zoneinfo's fold=0 rule, so the answer never goes backwards.
    """
    # `at` may carry fold=1 (copied from a moment in the repeated autumn hour); inside a
    # spring gap that would read the time an hour early, so the rule is applied here.
    return datetime.combine(day, at.replace(fold=0), tzinfo=zone).astimezone(UTC)


def is_inside(moment: datetime, window: TimeWindow, zone: ZoneInfo) -> bool:
    """Whether the local clock at `moment` shows one of the window's days and hours.

    The wall clock decides, as a marketer reads it: on the night the clocks go back, a
    window covering the repeated hour is open during both passes of that hour.
    """
    local = moment.astimezone(zone)
    if WEEKDAYS[local.weekday()] not in window.days:
        return False
    return window.start <= local.time() < window.end


def next_opening(moment: datetime, window: TimeWindow, zone: ZoneInfo) -> datetime:
    """`moment` itself when inside the window, else the next instant the window opens.

    The window opens when the local clock reaches its start. When a spring-forward
    change skips the start, it opens as the clock jumps past it (03:00 for a 02:30
    start) if that is still before its end; a window lying wholly in the skipped hour
    does not open that day. In autumn the clock may go back into a window and open it
    a second time.
    """
    if is_inside(moment, window, zone):
        return moment
    first_day = moment.astimezone(zone).date()
    openings: list[datetime] = []
    # Two weeks: the one allowed day of a week may have its window skipped by DST.
    for offset in range(15):
        day = first_day + timedelta(days=offset)
        if openings and min(openings) < local_instant(day, time(0), zone) - _MARGIN:
            break  # later days only have later entries
        openings += [
            instant
            for instant in _entries(day, window.start, zone)
            if instant > moment and is_inside(instant, window, zone)
        ]
    if not openings:
        raise AssertionError("a window with at least one day opens within two weeks")
    return min(openings)


def _entries(day: date, start: time, zone: ZoneInfo) -> list[datetime]:
    """Every instant around `day` at which the clock can enter a window opening at
    `start`: each time the clock shows `start`, and each change of the UTC offset."""
    entries: list[datetime] = []
    wall = datetime.combine(day, start)
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall:  # not skipped
            entries.append(instant)
    return entries + _offset_changes(day, zone)


def _offset_changes(day: date, zone: ZoneInfo) -> list[datetime]:
    """The instants (to the second) at which `zone` changes its UTC offset on `day`."""
    hour = timedelta(hours=1)
    probe = local_instant(day, time(0), zone) - _MARGIN
    stop = local_instant(day + timedelta(days=1), time(0), zone) + _MARGIN
    changes: list[datetime] = []
    while probe < stop:
        before, after = (
            probe.astimezone(zone).utcoffset(),
            (probe + hour).astimezone(zone).utcoffset(),
        )
        if before != after:
            # Offsets change at most once an hour; bisect to the first second of the new one.
            low, high = 0, 3600
            while low < high:
                middle = (low + high) // 2
                if (probe + timedelta(seconds=middle)).astimezone(zone).utcoffset() == after:
                    high = middle
                else:
                    low = middle + 1
            changes.append(probe + timedelta(seconds=low))
        probe += hour
    return changes


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


def describe_moment(moment: datetime, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """A moment as the path and the Web UI show it: journey-local time first, then UTC,
    '2020-01-01 09:00 Europe/Amsterdam (08:00 UTC)'; the UTC date is added when it differs."""
    clock = "%H:%M:%S" if seconds or moment.second or moment.microsecond else "%H:%M"
    local = moment.astimezone(zone)
    utc = moment.astimezone(UTC)
    utc_text = utc.strftime(clock if utc.date() == local.date() else f"%Y-%m-%d {clock}")
    return f"{local.strftime(f'%Y-%m-%d {clock}')} {zone.key} ({utc_text} UTC)"
