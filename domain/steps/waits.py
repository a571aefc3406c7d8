"""Waits: a fixed time, until a moment, for a time window. All are Temporal timers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from domain.durations import MAX_WAIT, Duration
from domain.schema import (
    WEEKDAYS,
    LocalTime,
    StepId,
    TimeWindow,
    Weekday,
    check_window_order,
    is_frozen,
)
from domain.steps.base import Linear, StepBase
from domain.triggers import EventMatch

# A moment a wait_until may name. The past is fine (everyone goes straight on); the
# upper end keeps the timer well inside what Temporal accepts (~290 years ahead).
EARLIEST_MOMENT = datetime(1900, 1, 1)
LATEST_MOMENT = datetime(2199, 12, 31, 23, 59, 59)


def _wait_length(value: str, info: ValidationInfo) -> str:
    parsed = Duration.parse(value)
    # A frozen version was accepted when it was activated: its trips must still run.
    if parsed.seconds > MAX_WAIT.total_seconds() and not is_frozen(info):
        raise ValueError(f"'{value}' is longer than ten years, the longest wait")
    return value


class WaitStep(Linear):
    """Wait a fixed time. Days and weeks keep the local time of day across DST."""

    NEEDS_RELATION: ClassVar[bool] = False
    EXAMPLE: ClassVar[dict[str, Any]] = {"id": "a_week", "type": "wait", "duration": "P7D"}

    type: Literal["wait"]
    duration: str = Field(max_length=60, description="ISO-8601, at most ten years (P3653D)")

    _parse = field_validator("duration")(_wait_length)

    @property
    def parsed(self) -> Duration:
        return Duration.parse(self.duration)

    def describe(self) -> str:
        return f"wait {self.parsed.describe()}"


class WaitUntilStep(Linear):
    """Wait until one moment; once it has passed, everyone goes straight on."""

    NEEDS_RELATION: ClassVar[bool] = False
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "launch",
        "type": "wait_until",
        "until": "2027-03-01T09:00:00",
    }

    type: Literal["wait_until"]
    until: datetime = Field(
        description="Without an offset it is read in the journey timezone; "
        f"between the years {EARLIEST_MOMENT.year} and {LATEST_MOMENT.year}"
    )

    @field_validator("until")
    @classmethod
    def _in_range(cls, value: datetime, info: ValidationInfo) -> datetime:
        # Any timezone (UTC-12 to UTC+14) keeps such a moment inside what datetime and
        # Temporal's timers can compute with.
        naive = value.replace(tzinfo=None)
        if not EARLIEST_MOMENT <= naive <= LATEST_MOMENT and not is_frozen(info):
            raise ValueError(
                f"must be between {EARLIEST_MOMENT.year}-01-01 and {LATEST_MOMENT.year}-12-31"
            )
        return value

    def describe(self) -> str:
        written = self.until.isoformat(sep=" ", timespec="auto")
        return f"wait until {written}" + ("" if self.until.tzinfo else " (journey time)")


class WaitWindowStep(Linear):
    """Wait for the next moment inside the window; inside it, go on at once."""

    NEEDS_RELATION: ClassVar[bool] = False
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "office_hours",
        "type": "wait_window",
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "09:00",
        "end": "12:00",
    }

    type: Literal["wait_window"]
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _start_before_end(self, info: ValidationInfo) -> WaitWindowStep:
        check_window_order(self.start, self.end, info)
        return self

    @property
    def window(self) -> TimeWindow:
        return TimeWindow.model_validate(
            {"days": self.days, "start": self.start, "end": self.end},
            context={"frozen_version": True},
        )

    def describe(self) -> str:
        return f"wait for window {self.window.describe()}"


class WaitForEventStep(StepBase, EventMatch):
    """Wait until the relation has an event of this type (and payload), at most `timeout`.

    Counts every matching event since the trip started that no earlier wait_for_event
    of the trip used, so an event that arrived just before the trip reached this step
    (while it was sending the previous mail, say) is not missed."""

    WAYS: ClassVar[tuple[str, ...]] = ("received", "timeout")
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "bought",
        "type": "wait_for_event",
        "event": "purchase",
        "timeout": "PT4H",
    }

    type: Literal["wait_for_event"]
    timeout: str = Field(max_length=60, description="ISO-8601, at most ten years")
    on_received: StepId | None = Field(
        default=None, description="Step after the event; default: the next in the list"
    )
    on_timeout: StepId | None = Field(
        default=None, description="Step when the timeout passed first; default: the next"
    )

    _parse = field_validator("timeout")(_wait_length)

    @property
    def parsed(self) -> Duration:
        return Duration.parse(self.timeout)

    def ways_out(self) -> dict[str, str | None]:
        return {"received": self.on_received, "timeout": self.on_timeout}

    def listens_for(self) -> frozenset[str]:
        return frozenset({self.event})

    def describe(self) -> str:
        return f"wait for {self.wording()}, at most {self.parsed.describe()}"


STEPS = (WaitStep, WaitUntilStep, WaitWindowStep, WaitForEventStep)
