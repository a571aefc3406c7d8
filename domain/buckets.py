"""Export buckets: the periods an export step collects trips for, on the journey's local
calendar (an hour, a day from local midnight, a week from Monday 00:00).

A bucket is named by what the local clock shows (`2027-03-01`, `2027-W09`,
`2027-03-01T14+0100`) and spans the instants whose local clock shows that name: a day
is 23 or 25 hours long when the clocks change, and the hour that autumn repeats is two
buckets (the UTC offset is part of an hour's name). Buckets follow each other without
gap or overlap, also in zones that change their clocks by half an hour or at midnight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from domain.calendar import local_instant

Every = Literal["PT1H", "P1D", "P7D"]
EVERY: tuple[Every, ...] = ("PT1H", "P1D", "P7D")

# Words for operators, by period.
PERIOD_WORDS: dict[Every, str] = {"PT1H": "hour", "P1D": "day", "P7D": "week"}

# Further than any change of a UTC offset moves a wall-clock boundary.
_SLACK = timedelta(hours=3)
_ONE = timedelta(seconds=1)


@dataclass(frozen=True)
class Bucket:
    key: str
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive: when the bucket's file may be written


def key_of(moment: datetime, every: Every, zone: ZoneInfo) -> str:
    """The name of the bucket holding `moment`."""
    local = moment.astimezone(zone)
    if every == "P1D":
        return local.date().isoformat()
    if every == "P7D":
        year, week, _ = local.date().isocalendar()
        return f"{year}-W{week:02d}"
    offset = local.strftime("%z")  # +0100: the repeated autumn hour is another bucket
    return f"{local:%Y-%m-%dT%H}{offset}"


def bucket_of(moment: datetime, every: Every, zone: ZoneInfo) -> Bucket:
    """The bucket holding `moment` (aware), with its bounds in UTC."""
    if moment.tzinfo is None:
        raise ValueError("an export moment must be timezone-aware")
    key = key_of(moment, every, zone)
    first, after = _wall_bounds(moment, every, zone)
    second = _whole_second(moment)

    def in_bucket(instant: datetime) -> bool:
        return key_of(instant, every, zone) == key

    # The wall clock's answer holds unless an offset change cuts the period short (a
    # skipped local midnight, a half-hour shift inside an hour): then the first and
    # last instants showing the name are searched for.
    if not (in_bucket(first) and not in_bucket(first - _ONE)):
        first = _first_true(in_bucket, first - _SLACK, second)
    if not (in_bucket(after - _ONE) and not in_bucket(after)):
        after = _first_true(lambda t: not in_bucket(t), second, after + _SLACK)
    return Bucket(key=key, start=first, end=after)


def _wall_bounds(moment: datetime, every: Every, zone: ZoneInfo) -> tuple[datetime, datetime]:
    local = moment.astimezone(zone)
    if every == "PT1H":
        start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        return start, start + timedelta(hours=1)
    day = local.date()
    if every == "P7D":
        day -= timedelta(days=day.weekday())
        return _midnight(day, zone), _midnight(day + timedelta(days=7), zone)
    return _midnight(day, zone), _midnight(day + timedelta(days=1), zone)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return local_instant(day, time(0), zone)


def _whole_second(moment: datetime) -> datetime:
    # Offset changes fall on whole seconds, so bucket bounds do too.
    return moment.astimezone(UTC).replace(microsecond=0)


def _first_true(test: Callable[[datetime], bool], low: datetime, high: datetime) -> datetime:
    """The first whole second in (low, high] where `test` holds, given it does not at
    `low`, does at `high`, and changes once in between."""
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if test(datetime.fromtimestamp(mid, UTC)):
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def describe_every(every: Every | Literal["run"]) -> str:
    if every == "run":
        return "until the selection run ends"
    return f"per {PERIOD_WORDS[every]}"
