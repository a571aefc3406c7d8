"""Contact pressure: how much marketing mail a relation may get, and when.

A workspace-wide policy (frequency caps across journeys, quiet hours) judged together
with the journey's send window, on the relation's own wall clock when it has a timezone.
Pure: the caller passes the moment (Temporal's time), the relation's zone and the times
of its recent marketing mails, and gets back whether the mail may go now and, if not,
the earliest moment every rule allows it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from domain.calendar import is_inside, next_opening
from domain.schema import Model, TimeWindow

DAY = timedelta(days=1)
WEEK = timedelta(days=7)

Rule = Literal["send_window", "quiet_hours", "cap_day", "cap_week"]
CAP_RULES: frozenset[str] = frozenset({"cap_day", "cap_week"})

_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
# Once every recent mail has aged out of the week, only the daily and weekly rules are
# left; if they find no common moment in two more weeks (DST may skip a window's one
# hour once), they never will.
_SETTLED = timedelta(days=15)


def _clock(value: str) -> str:
    if not _CLOCK.fullmatch(value):
        raise PydanticCustomError(
            "clock",
            "write a time of day as HH:MM, from 00:00 to 23:59 (for example '21:00'), "
            "not '{value}'",
            {"value": value[:20]},
        )
    return value


Clock = Annotated[
    str,
    AfterValidator(_clock),
    WithJsonSchema({"type": "string", "pattern": _CLOCK.pattern, "examples": ["21:00"]}),
]


class QuietHours(Model):
    """No marketing mail while the relation's clock is between `start` and `end`.

    The hours may wrap midnight: 21:00-09:00 is the night. A mail due inside them waits
    until the clock shows `end` (09:00 local, also on the night the clocks change)."""

    start: Clock = Field(description="Local time the quiet hours begin, HH:MM")
    end: Clock = Field(description="Local time they end, HH:MM; before `start` wraps midnight")

    @model_validator(mode="after")
    def _has_a_length(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError(
                "'start' and 'end' are the same: quiet hours need a length "
                "(leave quiet_hours out for none)"
            )
        return self

    @property
    def wraps(self) -> bool:
        return self.end < self.start

    def is_quiet(self, moment: datetime, zone: ZoneInfo) -> bool:
        # The wall clock decides, as a relation reads it, like the send window.
        local = moment.astimezone(zone).time()
        start, end = time.fromisoformat(self.start), time.fromisoformat(self.end)
        if self.wraps:
            return local >= start or local < end
        return start <= local < end

    def ends_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The next instant, after `moment` inside the quiet hours, that the clock leaves
        them: the calendar's window maths on the hours that are not quiet, so a clock
        change on the way is handled as it is for send windows."""
        end = time.fromisoformat(self.end)
        until = time.fromisoformat(self.start) if self.wraps else time.max
        return next_opening(moment, TimeWindow(start=end, end=until), zone)

    def describe(self) -> str:
        return f"{self.start}-{self.end}"


class ContactPressure(Model):
    """The workspace's contact-pressure policy (the default: no caps, no quiet hours).

    Caps count marketing mails per relation across all journeys over a rolling 24 hours
    and a rolling 7 days, not per calendar day or week: a calendar day would let two
    mails go at 23:59 and two more at 00:01. Transactional mail neither counts nor waits
    for them."""

    per_day: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="At most this many marketing mails per relation in any 24 hours",
    )
    per_week: int | None = Field(
        default=None,
        ge=1,
        le=10000,
        description="At most this many marketing mails per relation in any 7 days",
    )
    quiet_hours: QuietHours | None = Field(
        default=None,
        description="No marketing mail between these local times (the relation's timezone, "
        "else the journey's)",
    )
    soft_bounce_limit: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Soft bounces of one relation after which its address is suppressed",
    )
    machine_open_seconds: int = Field(
        default=5,
        ge=0,
        le=3600,
        description="An open this soon after sending is counted as a likely machine open "
        "(a privacy proxy or scanner fetching the images)",
    )


class Verdict(Model):
    """Whether a mail may go now; if not, when it may and which rule decided that.

    `rule` is the rule that set `until` (the last one to push it later), so a step that
    skips capped mail skips only when a cap, not the night, is what holds it back."""

    allowed: bool
    until: datetime | None = None  # None while allowed, or when the rules never agree
    rule: Rule | None = None
    detail: str = ""  # for operators: the path and the Web UI show it

    @property
    def capped(self) -> bool:
        return self.rule in CAP_RULES


def decide(
    *,
    now: datetime,
    policy: ContactPressure,
    zone: ZoneInfo,
    window: TimeWindow | None,
    recent: Sequence[datetime],
    transactional: bool,
) -> Verdict:
    """Judge one mail at `now`.

    `recent`: the times of the relation's marketing mails already sent or under way
    (not this one). `zone`: the relation's timezone, or the journey's (see `zone_for`).
    Transactional mail (a receipt) bypasses the caps and the quiet hours, but not the
    journey's send window: its author chose that window for this very mail.
    """
    if now.tzinfo is None:
        raise ValueError("`now` must be an aware datetime")
    checks = [_window_check(window, zone)]
    if not transactional:
        checks += [
            _quiet_check(policy.quiet_hours, zone),
            _cap_check("cap_day", policy.per_day, DAY, recent),
            _cap_check("cap_week", policy.per_week, WEEK, recent),
        ]
    latest = max([now, *recent])
    horizon = latest + WEEK + _SETTLED
    moment, rule, detail = now, None, ""
    # Each pass moves `moment` strictly later or ends; the bound is a safety net.
    for _ in range(100 + 4 * len(recent)):
        for check in checks:
            pushed = check(moment)
            if pushed is not None:
                moment, rule, detail = pushed
                break
        else:
            if rule is None:
                return Verdict(allowed=True)
            return Verdict(allowed=False, until=moment, rule=rule, detail=detail)
        if moment > horizon:
            break
    return Verdict(
        allowed=False,
        rule="send_window",
        detail=f"the send window {_window_text(window, zone)} never opens outside the "
        f"quiet hours {_quiet_text(policy.quiet_hours, zone)}",
    )


# A check looks at one moment: None when its rule allows it, else the rule's next
# allowed moment (strictly later), the rule and its words for operators.
_Push = tuple[datetime, Rule, str] | None
_Check = Callable[[datetime], _Push]


def _window_check(window: TimeWindow | None, zone: ZoneInfo) -> _Check:
    def check(moment: datetime) -> _Push:
        if window is None or is_inside(moment, window, zone):
            return None
        detail = f"send window {_window_text(window, zone)}"
        return next_opening(moment, window, zone), "send_window", detail

    return check


def _quiet_check(quiet: QuietHours | None, zone: ZoneInfo) -> _Check:
    def check(moment: datetime) -> _Push:
        if quiet is None or not quiet.is_quiet(moment, zone):
            return None
        detail = f"quiet hours {_quiet_text(quiet, zone)}"
        return quiet.ends_after(moment, zone), "quiet_hours", detail

    return check


def _cap_check(
    rule: Rule, limit: int | None, period: timedelta, recent: Sequence[datetime]
) -> _Check:
    ordered = sorted(recent)
    words, span = ("a day", "24 hours") if period == DAY else ("a week", "7 days")

    def check(moment: datetime) -> _Push:
        if limit is None:
            return None
        # A mail counts for one period from when it went (or was claimed to go); one
        # dated after `moment` (the clocks of two machines) counts as well.
        counted = [sent for sent in ordered if sent > moment - period]
        if len(counted) < limit:
            return None
        # Free again once all but limit - 1 of them have aged out.
        released = counted[len(counted) - limit] + period
        return released, rule, f"at most {limit} {words}: {len(counted)} in the last {span}"

    return check


def _window_text(window: TimeWindow | None, zone: ZoneInfo) -> str:
    return f"{window.describe()} ({zone.key})" if window is not None else "(none)"


def _quiet_text(quiet: QuietHours | None, zone: ZoneInfo) -> str:
    return f"{quiet.describe()} ({zone.key})" if quiet is not None else "(none)"


def zone_for(relation_timezone: str | None, journey_zone: str) -> ZoneInfo:
    """The zone whose clock the rules read: the relation's own when it names a known
    one (a CRM import may carry anything), else the journey's, else UTC."""
    for name in (relation_timezone, journey_zone):
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return ZoneInfo("UTC")
