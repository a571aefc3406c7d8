"""ISO-8601 durations as marketers write them: weeks, days, hours (and minutes, seconds).

Years and months are refused: "wait 1 month" has no single length, so the definition
must say what it means in days or weeks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

# What a wait may last when a definition is saved: ten years (leap days included). A
# longer wait is almost surely a typo, and far longer ones overflow the timer arithmetic.
MAX_WAIT = timedelta(days=3653)
# Beyond this even parsing refuses: numbers that big overflow timedelta itself.
_TIMEDELTA_DAYS = timedelta.max.days - 1

_PATTERN = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


@dataclass(frozen=True)
class Duration:
    """Calendar part (whole days, kept on the local wall clock) plus an exact part."""

    days: int
    exact: timedelta

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _PATTERN.match(text.strip().upper()) if text else None
        if match is None or text.strip().upper() in ("P", "PT"):
            raise ValueError(
                f"'{text}' is not an ISO-8601 duration in weeks, days, hours, minutes "
                "or seconds (for example P7D, PT12H, P2W, P1DT6H)"
            )
        parts = {name: int(value) if value else 0 for name, value in match.groupdict().items()}
        days = parts["weeks"] * 7 + parts["days"]
        exact = parts["hours"] * 3600 + parts["minutes"] * 60 + parts["seconds"]
        # Checked on the integers: a timedelta this large would raise OverflowError (a 500
        # once). Frozen versions pass here too: anything below never overflowed before.
        if days > _TIMEDELTA_DAYS or exact > _TIMEDELTA_DAYS * 86_400:
            raise ValueError(f"'{text[:40]}' is far longer than any wait (at most ten years)")
        duration = cls(days=days, exact=timedelta(seconds=exact))
        if duration.days == 0 and duration.exact <= timedelta(0):
            raise ValueError(f"'{text}' must be longer than zero")
        return duration

    @property
    def seconds(self) -> int:
        """How long it lasts on a clock without DST changes (a day is 24 hours); an int,
        which unlike a timedelta cannot overflow."""
        return self.days * 86_400 + int(self.exact.total_seconds())

    def describe(self) -> str:
        """Human words for the Web UI: 'wait 1 week 2 days 3 hours'."""
        words: list[str] = []
        weeks, days = divmod(self.days, 7)
        if weeks and not days and not self.exact:
            words.append(_plural(weeks, "week"))
        else:
            if self.days:
                words.append(_plural(self.days, "day"))
        total = int(self.exact.total_seconds())
        hours, rest = divmod(total, 3600)
        minutes, seconds = divmod(rest, 60)
        for amount, unit in ((hours, "hour"), (minutes, "minute"), (seconds, "second")):
            if amount:
                words.append(_plural(amount, unit))
        return " ".join(words)


def _plural(amount: int, unit: str) -> str:
    return f"{amount} {unit}" + ("" if amount == 1 else "s")
