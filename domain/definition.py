"""The journey definition: settings, triggers and steps, as marketers write them.

Every trigger and step is a tagged union on `type`, so a bad step gets an error that
names its position and field, and new kinds are added without touching the others.
Parsing a definition also validates its graph (see `domain.graph`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from domain.graph import validate_graph
from domain.schema import FROZEN, Model, TimeWindow, is_frozen
from domain.steps import References, Step, StepBase
from domain.triggers import ExitOn, ManualTrigger, Trigger

# Far beyond any real journey; it bounds the work of validating a definition.
MAX_STEPS = 500
MAX_TEXT = 1000

Reentry = Literal["never", "after_exit", "always"]


@dataclass(frozen=True)
class _At:
    """One step of a path into the raw definition: a key or index, and where it is."""

    key: str | int
    parent: _At | None


def _too_long(at: _At | None) -> PydanticCustomError:
    parts: list[str] = []
    while at is not None:
        parts.append(f"[{at.key}]" if isinstance(at.key, int) else f".{str(at.key)[:40]}")
        at = at.parent
    where = "".join(reversed(parts)).lstrip(".") or "definition"
    return PydanticCustomError(
        "text_too_long", "{where}: at most {limit} characters", {"where": where, "limit": MAX_TEXT}
    )


def _manual_only() -> list[Trigger]:
    return [ManualTrigger(type="manual")]


class JourneyDefinition(Model):
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
    triggers: list[Trigger] = Field(
        default_factory=_manual_only,
        min_length=1,
        max_length=50,
        description="What admits a relation; a relation matched by several at once is "
        "admitted once",
    )
    exit_on: list[ExitOn] = Field(
        default_factory=list,
        max_length=20,
        description="Goals: a running trip ends at once when the relation has such an event",
    )
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

    @model_validator(mode="before")
    @classmethod
    def _texts_bounded(cls, data: Any, info: ValidationInfo) -> Any:
        """Every text in a definition (names, keys, condition fields and values) is at
        most MAX_TEXT characters: they end up in the Web UI, summaries and paths."""
        if is_frozen(info):
            return data
        # Each entry points at its parent; the path is spelled only for the error, so a
        # body of many long keys costs no copies of them.
        pending: list[tuple[Any, _At | None]] = [(data, None)]
        while pending:
            value, at = pending.pop()
            if isinstance(value, str) and len(value) > MAX_TEXT:
                raise _too_long(at)
            if isinstance(value, dict):
                for key, item in value.items():
                    place = _At(key, at)
                    if isinstance(key, str) and len(key) > MAX_TEXT:
                        raise _too_long(place)
                    pending.append((item, place))
            elif isinstance(value, list):
                pending.extend((item, _At(i, at)) for i, item in enumerate(value))
        return data

    @model_validator(mode="after")
    def _valid_graph(self, info: ValidationInfo) -> JourneyDefinition:
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

    def has_step(self, step_id: str) -> bool:
        return any(step.id == step_id for step in self.steps)

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)

    def digest(self) -> str:
        """Identifies a version's content; equal definitions have equal digests."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    def follow(self, step: StepBase, way: str) -> str | None:
        """The step a trip goes to when it leaves `step` by `way`; None ends the trip."""
        target = step.ways_out()[way]
        if target is not None:
            return target
        index = self._index(step.id)
        return self.steps[index + 1].id if index + 1 < len(self.steps) else None

    def _index(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.steps) if s.id == step_id)

    def references(self) -> References:
        found = References(segments=frozenset().union(*(t.segments() for t in self.triggers)))
        for step in self.steps:
            found = found | step.references()
        return found

    def trigger_label(self, index: int) -> str:
        """How a trip's path and the Web UI name the trigger that admitted it."""
        return f"trigger {index + 1}: {self.triggers[index].describe()}"

    def listens_for(self) -> frozenset[str]:
        """Event types a running trip of this version must hear about (its goals and
        its wait_for_event steps), so events are signalled only to trips that care."""
        types = {goal.event for goal in self.exit_on}
        for step in self.steps:
            types |= step.listens_for()
        return frozenset(types)


def parse_definition(data: Any) -> JourneyDefinition:
    return JourneyDefinition.model_validate(data)


def parse_frozen(data: Any) -> JourneyDefinition:
    return JourneyDefinition.model_validate(data, context=FROZEN)
