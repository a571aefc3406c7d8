"""Recurring dates: which relations a day's run of a `recurring_date` trigger admits.

A trigger runs once a day, at `at` in the journey's timezone (a Temporal Schedule). The
run of local day D admits everyone whose date field has its **anniversary** on
D + `days_before`: a birthday mail two days ahead runs on 14 May for birthdays on 16 May.
The date's month and day decide; its year does not.

**29 February.** Someone born on 29 February has their anniversary on 29 February in
leap years and on 28 February in other years (the day their age changes in most
countries' law, and the last day of their birth month). So the run whose anniversary is
28 February of a year without a 29 February admits "02-29" as well; in a leap year 28
February admits only "02-28" and 29 February only "02-29". Either way everyone has
exactly one anniversary a year.

One trip per relation per trigger per year: the admission key names the anniversary's
year (not the run's: a run on 30 December with `days_before` 3 admits January
birthdays of the next year).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Temporal skips a calendar time the local clock never shows (a spring-forward gap, a day
# a zone dropped); a zone never loses more than a day, so two days back is enough.
_LOOK_BACK = 2


def anniversary(run_day: date, days_before: int) -> date:
    """The day whose anniversaries the run of `run_day` admits."""
    return run_day + timedelta(days=days_before)


def month_days(anniversary: date) -> list[str]:
    """The "MM-DD" dates whose anniversary falls on `anniversary` (see the module
    docstring for 29 February)."""
    found = [anniversary.strftime("%m-%d")]
    if (anniversary.month, anniversary.day) == (2, 28) and _no_leap_day(anniversary.year):
        found.append("02-29")
    return found


def _no_leap_day(year: int) -> bool:
    return date(year, 3, 1) - timedelta(days=1) == date(year, 2, 28)


def admission_year(run_day: date, days_before: int) -> int:
    """The year a run's admissions count for: one trip per relation per trigger per year."""
    return anniversary(run_day, days_before).year


def admission_key(trigger_index: int, year: int) -> str:
    """A trip's admission key: the same relation, trigger and year admit at most once."""
    return f"date:{trigger_index}:{year}"


def run_key(trigger_index: int, anniversary: date) -> str:
    """An admission run's key, unique per journey: one run per trigger and anniversary."""
    return f"date:{trigger_index}:{anniversary.isoformat()}"


def local_run_day(scheduled: datetime, zone: ZoneInfo) -> date:
    """The local day a run scheduled at `scheduled` (aware, usually UTC) belongs to: the
    schedule fires at `at` in the journey's timezone, so this is that day on its clock."""
    if scheduled.tzinfo is None:
        raise ValueError("a scheduled time must carry its offset (Temporal gives UTC)")
    return scheduled.astimezone(zone).date()


def occurs(day: date, at: time, zone: ZoneInfo) -> bool:
    """Whether the local clock shows `at` on `day` (it does not inside a spring-forward
    gap, nor on a day the zone skipped, such as Samoa's 30 December 2011)."""
    wall = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall:
            return True
    return False


def days_of_run(run_day: date, at: time, zone: ZoneInfo) -> list[date]:
    """The local days the run of `run_day` stands for, oldest first: `run_day`, preceded
    by the days just before it on which `at` never occurred. Temporal's calendar does
    not fire on those (at 02:30 in Amsterdam on the last Sunday of March), so the next
    run admits their anniversaries too: a day late rather than never."""
    days = [run_day]
    for back in range(1, _LOOK_BACK + 1):
        earlier = run_day - timedelta(days=back)
        if occurs(earlier, at, zone):
            break
        days.insert(0, earlier)
    return days
