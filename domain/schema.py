"""Building blocks shared by every part of a journey definition: the strict model base,
step ids, weekdays, local times and time windows, and the frozen-version context."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
StepId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

# Validation context for a version that was validated when it was frozen at activation.
# Its trips replay it from Temporal history for as long as they run, so rules that only
# *refuse* definitions (graph shape, window order) are not applied again: making such a
# rule stricter later must not strand running trips whose version broke it.
FROZEN = {"frozen_version": True}


def is_frozen(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("frozen_version"))


def _written_as_time(value: Any) -> Any:
    # Unquoted YAML reads 17:30 as the number 1050, which would become 00:17:30.
    if isinstance(value, int | float):
        raise ValueError("write the time as text, for example '17:30'")
    return value


def _without_offset(value: time) -> time:
    # Windows are read on the journey's wall clock; an offset would also make them
    # incomparable with it.
    if value.tzinfo is not None:
        raise ValueError("a window time is local to the journey timezone: leave out the offset")
    return value


LocalTime = Annotated[time, BeforeValidator(_written_as_time), AfterValidator(_without_offset)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def check_window_order(start: time, end: time, info: ValidationInfo) -> None:
    if start >= end and not is_frozen(info):
        raise ValueError("'start' must be before 'end' (windows do not span midnight)")


def _clock(value: time) -> str:
    return f"{value:%H:%M:%S}" if value.second else f"{value:%H:%M}"


class TimeWindow(Model):
    """Days of the week and hours of the day, in the journey's timezone."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _start_before_end(self, info: ValidationInfo) -> TimeWindow:
        check_window_order(self.start, self.end, info)
        return self

    def describe(self) -> str:
        days = ",".join(self.days) if len(self.days) < 7 else "every day"
        return f"{days} {_clock(self.start)}-{_clock(self.end)}"
