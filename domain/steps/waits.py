"""Waits: a fixed time, until a moment, for a time window. All are Temporal timers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from domain.durations import Duration
from domain.schema import WEEKDAYS, LocalTime, TimeWindow, Weekday, check_window_order
from domain.steps.base import Linear


class WaitStep(Linear):
    """Wait a fixed time. Days and weeks keep the local time of day across DST."""

    EXAMPLE: ClassVar[dict[str, Any]] = {"id": "a_week", "type": "wait", "duration": "P7D"}

    type: Literal["wait"]
    duration: str

    @field_validator("duration")
    @classmethod
    def _parse(cls, value: str) -> str:
        Duration.parse(value)
        return value

    @property
    def parsed(self) -> Duration:
        return Duration.parse(self.duration)

    def describe(self) -> str:
        return f"wait {self.parsed.describe()}"


class WaitUntilStep(Linear):
    """Wait until one moment; once it has passed, everyone goes straight on."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "launch",
        "type": "wait_until",
        "until": "2027-03-01T09:00:00",
    }

    type: Literal["wait_until"]
    until: datetime = Field(description="Without an offset it is read in the journey timezone")

    def describe(self) -> str:
        written = self.until.isoformat(sep=" ", timespec="auto")
        return f"wait until {written}" + ("" if self.until.tzinfo else " (journey time)")


class WaitWindowStep(Linear):
    """Wait for the next moment inside the window; inside it, go on at once."""

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


STEPS = (WaitStep, WaitUntilStep, WaitWindowStep)
