"""The journey definition: settings, triggers and steps, as marketers write them.

Every trigger and step is a tagged union on `type`, so a bad step gets an error that
names its position and field, and new kinds are added without touching the others.
Parsing a definition also validates its graph (see `domain.graph`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from domain.conditions import Condition
from domain.durations import Duration

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
StepId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TimeWindow(_Model):
    """Days of the week and hours of the day, in the journey's timezone."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _start_before_end(self, info: ValidationInfo) -> TimeWindow:
        if self.start >= self.end and not is_frozen(info):
            raise ValueError("'start' must be before 'end' (windows do not span midnight)")
        return self

    def describe(self) -> str:
        days = ",".join(self.days) if len(self.days) < 7 else "every day"
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M}"


# --- triggers -------------------------------------------------------------------------


class ManualTrigger(_Model):
    """Someone (a colleague, an app) adds the relation through the API."""

    type: Literal["manual"]


# A tagged union of one for now: the event, list and date triggers join it as members.
Trigger = Annotated[ManualTrigger, Field(discriminator="type")]


# --- steps ----------------------------------------------------------------------------


class _Step(_Model):
    id: StepId
    name: str | None = Field(default=None, description="Label shown to operators")

    def label(self) -> str:
        return self.name or self.id


class _Linear(_Step):
    next: StepId | None = Field(
        default=None, description="Step to go to afterwards; default: the next in the list"
    )


class WaitStep(_Linear):
    """Wait a fixed time. Days and weeks keep the local time of day across DST."""

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


class WaitUntilStep(_Linear):
    """Wait until one moment; once it has passed, everyone goes straight on."""

    type: Literal["wait_until"]
    until: datetime = Field(description="Without an offset it is read in the journey timezone")


class WaitWindowStep(_Linear):
    """Wait for the next moment inside the window; inside it, go on at once."""

    type: Literal["wait_window"]
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _start_before_end(self, info: ValidationInfo) -> WaitWindowStep:
        if self.start >= self.end and not is_frozen(info):
            raise ValueError("'start' must be before 'end' (windows do not span midnight)")
        return self

    @property
    def window(self) -> TimeWindow:
        return TimeWindow(days=self.days, start=self.start, end=self.end)


class IfStep(_Step):
    """Split on relation data, evaluated when the relation arrives."""

    type: Literal["if"]
    condition: Condition
    then: StepId
    else_: StepId = Field(alias="else")


class JumpStep(_Step):
    """Go to another step (never backwards into a loop)."""

    type: Literal["jump"]
    target: StepId


class SendEmailStep(_Linear):
    """Send a template to the relation, inside the journey's send window."""

    type: Literal["send_email"]
    template: str = Field(min_length=1, description="Key of the template")


class ExitStep(_Step):
    type: Literal["exit"]


Step = Annotated[
    WaitStep | WaitUntilStep | WaitWindowStep | IfStep | JumpStep | SendEmailStep | ExitStep,
    Field(discriminator="type"),
]

# Far beyond any real journey; it bounds the work of validating a definition.
MAX_STEPS = 500

Reentry = Literal["never", "after_exit", "always"]


class JourneyDefinition(_Model):
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "Europe/Amsterdam"
    reentry: Reentry = Field(
        default="never",
        description="never: one trip per relation ever; after_exit: again once the "
        "previous trip ended; always: any number, also at the same time",
    )
    send_window: TimeWindow | None = Field(
        default=None, description="When mail may go out; sends outside it wait for it"
    )
    triggers: list[Trigger] = Field(default_factory=lambda: [ManualTrigger(type="manual")])
    # A bound on the work validation and the workflow do per definition; far beyond any
    # journey a marketer draws.
    steps: list[Step] = Field(min_length=1, description=f"At most {MAX_STEPS} steps")

    @field_validator("steps")
    @classmethod
    def _not_too_many(cls, steps: list[Step], info: ValidationInfo) -> list[Step]:
        if len(steps) > MAX_STEPS and not is_frozen(info):
            raise PydanticCustomError(
                "too_long",
                "a journey has at most {limit} steps, this one has {count}",
                {"limit": MAX_STEPS, "count": len(steps)},
            )
        return steps

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone '{value}' (use an IANA name)") from None
        return value

    @model_validator(mode="after")
    def _valid_graph(self, info: ValidationInfo) -> JourneyDefinition:
        from domain.graph import validate_graph

        if not is_frozen(info):
            validate_graph(self)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)

    def digest(self) -> str:
        """Identifies a version's content; equal definitions have equal digests."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    def templates(self) -> set[str]:
        return {s.template for s in self.steps if isinstance(s, SendEmailStep)}


def parse_definition(data: Any) -> JourneyDefinition:
    return JourneyDefinition.model_validate(data)


# Validation context for a version that was validated when it was frozen at activation.
# Its trips replay it from Temporal history for as long as they run, so rules that only
# *refuse* definitions (graph shape, window order) are not applied again: making such a
# rule stricter later must not strand running trips whose version broke it.
FROZEN = {"frozen_version": True}


def is_frozen(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("frozen_version"))


def parse_frozen(data: Any) -> JourneyDefinition:
    return JourneyDefinition.model_validate(data, context=FROZEN)
