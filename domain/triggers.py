"""Triggers: what admits a relation to a journey, one class per kind (Procurios' five,
plus any event, segment shift and manual add).

Event-driven triggers say whether an event admits (`admits`); segment triggers whether
a change of the relation's segment memberships does (`admits_change`); a recurring date
is run by a Temporal Schedule per journey. Every admission goes through one service
(`activities/admission.py`), which enforces the journey's re-entry setting.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from domain.conditions import (
    STANDARD_FIELDS,
    Condition,
    bounded,
    describe_condition,
    evaluate,
    payload_facts,
)
from domain.schema import WEEKDAYS, LocalTime, Model, Weekday, is_frozen

# Event types named in the seeds; any other name is a custom event.
REGISTRATION = "registration"
DONATION = "donation"
EVENT_TYPE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
EventType = Annotated[str, Field(pattern=EVENT_TYPE, description="An event type name")]
SegmentKey = Annotated[str, Field(min_length=1, max_length=100)]
GroupKey = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", description="A group's key")
]
DATE_FIELDS = frozenset({"birth_date", "created_at"})


def _bounded_condition(raw: Any, info: ValidationInfo) -> Any:
    return raw if is_frozen(info) or raw is None else bounded(raw)


class EventMatch(Model):
    """An event type and an optional condition on its payload keys: what an `event`
    trigger, a goal (`exit_on`) and a `wait_for_event` step each wait for."""

    event: EventType
    where: Condition | None = Field(default=None, description="on the event's payload keys")

    _bounded = field_validator("where", mode="before")(_bounded_condition)

    def matches(self, event_type: str, payload: dict[str, Any]) -> bool:
        if event_type != self.event:
            return False
        return self.where is None or evaluate(self.where, payload_facts(payload)).result

    def wording(self) -> str:
        where = f" where {describe_condition(self.where)}" if self.where is not None else ""
        return f"event '{self.event}'{where}"


class TriggerBase(Model):
    type: str

    def admits(self, event_type: str, payload: dict[str, Any]) -> bool:
        """Whether an event of this type and payload admits the relation."""
        return False

    def admits_change(self, entered: frozenset[str], left: frozenset[str]) -> bool:
        """Whether a change of segment memberships (keys entered, keys left) admits."""
        return False

    def segments(self) -> frozenset[str]:
        return frozenset()

    def may_start_without_relation(self) -> bool:
        """Whether a trip it admits may have no relation yet (see EventTrigger)."""
        return False

    def describe(self) -> str:
        raise NotImplementedError


class ManualTrigger(TriggerBase):
    """Someone (a colleague, an app) adds the relation through the API."""

    type: Literal["manual"]

    def describe(self) -> str:
        return "manual"


class RegistrationTrigger(TriggerBase):
    """A `registration` event, from this form (or any form when none is named)."""

    type: Literal["registration"]
    form: str | None = Field(default=None, min_length=1, max_length=200)

    def admits(self, event_type: str, payload: dict[str, Any]) -> bool:
        if event_type != REGISTRATION:
            return False
        return self.form is None or _same_text(payload.get("form"), self.form)

    def describe(self) -> str:
        return f"registration on form '{self.form}'" if self.form else "registration (any form)"


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _same_text(actual: Any, expected: str) -> bool:
    return actual is not None and str(actual).casefold() == expected.casefold()


class DonationTrigger(TriggerBase):
    """A `donation` event: to this fund and campaign (any when not named), with an
    amount within the bounds. Both bounds are inclusive: `min_amount: 10` admits 10.00."""

    type: Literal["donation"]
    fund: str | None = Field(default=None, min_length=1, max_length=200)
    campaign: str | None = Field(default=None, min_length=1, max_length=200)
    min_amount: Decimal | None = Field(default=None, ge=0, description="inclusive")
    max_amount: Decimal | None = Field(default=None, ge=0, description="inclusive")

    @model_validator(mode="after")
    def _bounds_in_order(self, info: ValidationInfo) -> DonationTrigger:
        if (
            self.min_amount is not None
            and self.max_amount is not None
            and self.min_amount > self.max_amount
            and not is_frozen(info)
        ):
            raise ValueError("min_amount must not be above max_amount")
        return self

    def admits(self, event_type: str, payload: dict[str, Any]) -> bool:
        if event_type != DONATION:
            return False
        if self.fund is not None and not _same_text(payload.get("fund"), self.fund):
            return False
        if self.campaign is not None and not _same_text(payload.get("campaign"), self.campaign):
            return False
        if self.min_amount is None and self.max_amount is None:
            return True
        amount = _amount(payload.get("amount"))
        if amount is None:
            return False
        if self.min_amount is not None and amount < self.min_amount:
            return False
        return self.max_amount is None or amount <= self.max_amount

    def describe(self) -> str:
        parts = ["donation"]
        if self.fund:
            parts.append(f"to fund '{self.fund}'")
        if self.campaign:
            parts.append(f"in campaign '{self.campaign}'")
        if self.min_amount is not None:
            parts.append(f">= {self.min_amount}")
        if self.max_amount is not None:
            parts.append(f"<= {self.max_amount}")
        return " ".join(parts)


class EventTrigger(TriggerBase, EventMatch):
    """Any event of this type (`purchase`, `download`, `cart_abandoned`, ...), optionally
    only when its payload matches `where` (the condition language, on payload keys)."""

    type: Literal["event"]
    without_relation: bool = Field(
        default=False,
        description="Also start a trip for such an event that names no known relation "
        "(a form post with an email and a name: Deployteq's 'start at event'); the trip "
        "has no relation until a lookup_relation, add_relation or upsert_relation step "
        "gives it one",
    )

    def admits(self, event_type: str, payload: dict[str, Any]) -> bool:
        return self.matches(event_type, payload)

    def may_start_without_relation(self) -> bool:
        return self.without_relation

    def describe(self) -> str:
        return self.wording() + (" (also without a relation)" if self.without_relation else "")


class SegmentEntryTrigger(TriggerBase):
    """The relation comes to match the segment (Procurios' relation list)."""

    type: Literal["segment_entry"]
    segment: SegmentKey

    def admits_change(self, entered: frozenset[str], left: frozenset[str]) -> bool:
        return self.segment in entered

    def segments(self) -> frozenset[str]:
        return frozenset({self.segment})

    def describe(self) -> str:
        return f"enters segment '{self.segment}'"


class SegmentShiftTrigger(TriggerBase):
    """The relation leaves segment `from` and enters segment `to` in one change (Actito's
    segment shift: a repeat buyer becomes an ambassador)."""

    type: Literal["segment_shift"]
    from_: SegmentKey = Field(alias="from")
    to: SegmentKey

    @model_validator(mode="after")
    def _two_segments(self, info: ValidationInfo) -> SegmentShiftTrigger:
        if self.from_ == self.to and not is_frozen(info):
            raise ValueError("'from' and 'to' must be different segments")
        return self

    def admits_change(self, entered: frozenset[str], left: frozenset[str]) -> bool:
        return self.from_ in left and self.to in entered

    def segments(self) -> frozenset[str]:
        return frozenset({self.from_, self.to})

    def describe(self) -> str:
        return f"moves from segment '{self.from_}' to '{self.to}'"


class RecurringDateTrigger(TriggerBase):
    """Every year, `days_before` days before the date in a date field of the relation
    (birthday, contract renewal, customer since), at `at` in the journey's timezone.
    Someone born on 29 February is admitted on 28 February in years without one. One trip
    per relation per year, whatever the re-entry setting."""

    type: Literal["recurring_date"]
    field: str = Field(min_length=1, max_length=64, description="a date field, e.g. birth_date")
    days_before: int = Field(default=0, ge=0, le=365)
    at: LocalTime = Field(default=time(9, 0), description="local time of day (journey timezone)")

    @field_validator("field")
    @classmethod
    def _a_date_field(cls, value: str, info: ValidationInfo) -> str:
        # Custom fields are free-form (an ISO date string is expected); of the standard
        # fields only these hold dates.
        if value in STANDARD_FIELDS and value not in DATE_FIELDS and not is_frozen(info):
            raise ValueError(
                f"'{value}' is not a date field; use {' or '.join(sorted(DATE_FIELDS))}, "
                "or a custom field holding a date"
            )
        return value

    def describe(self) -> str:
        before = f"{self.days_before} days before " if self.days_before else ""
        return f"every year {before}{self.field} at {self.at:%H:%M}"


class SelectionSchedule(Model):
    """When a selection runs again: at `at` on the listed weekdays (every day when not
    given) and, if given, only on these days of the month (both must hold: `days: [mon]`
    with `days_of_month: [1, ..., 7]` is the first Monday), in the journey's timezone."""

    at: LocalTime = Field(default=time(8, 0), description="local time of day")
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    days_of_month: list[Annotated[int, Field(ge=1, le=31)]] | None = Field(
        default=None, min_length=1, max_length=31
    )

    def describe(self) -> str:
        days = "every day" if len(set(self.days)) == 7 else "every " + ", ".join(self.days)
        if self.days_of_month:
            days += " on day " + ", ".join(str(d) for d in sorted(set(self.days_of_month)))
        at = f"{self.at:%H:%M:%S}" if self.at.second else f"{self.at:%H:%M}"
        return f"{days} at {at}"


class SelectionTrigger(TriggerBase):
    """Admit the relations of a group, a segment or another journey (those with a trip
    running in it) at once (Deployteq's "Selecteer klanten"): once when the journey is
    activated, or on a schedule. Each time is a run one can follow; a `sync_group` step
    makes a group equal to the run's selection."""

    type: Literal["selection"]
    group: GroupKey | None = None
    segment: SegmentKey | None = None
    journey: int | None = Field(default=None, ge=1, le=2**31 - 1)
    schedule: SelectionSchedule | None = Field(
        default=None, description="Run again on this schedule; without it: once, at activation"
    )

    @model_validator(mode="after")
    def _one_source(self, info: ValidationInfo) -> SelectionTrigger:
        named = [s for s in ("group", "segment", "journey") if getattr(self, s) is not None]
        if len(named) != 1 and not is_frozen(info):
            raise ValueError(
                "name exactly one source: group, segment or journey"
                + (f" (not {' and '.join(named)})" if named else "")
            )
        return self

    def segments(self) -> frozenset[str]:
        return frozenset({self.segment}) if self.segment is not None else frozenset()

    def source(self) -> dict[str, Any]:
        """The admission run's source (activities/admission_runs._clause)."""
        if self.group is not None:
            return {"group": self.group}
        if self.segment is not None:
            return {"segment": self.segment}
        return {"journey": self.journey}

    def source_field(self) -> str:
        return next(iter(self.source()))

    def describe(self) -> str:
        if self.group is not None:
            source = f"group '{self.group}'"
        elif self.segment is not None:
            source = f"segment '{self.segment}'"
        else:
            source = f"the relations on a trip in journey {self.journey}"
        when = self.schedule.describe() if self.schedule else "once, at activation"
        return f"selection of {source}, {when}"


TRIGGER_TYPES: tuple[type[TriggerBase], ...] = (
    ManualTrigger,
    RegistrationTrigger,
    DonationTrigger,
    EventTrigger,
    SegmentEntryTrigger,
    SegmentShiftTrigger,
    RecurringDateTrigger,
    SelectionTrigger,
)

Trigger = Annotated[
    ManualTrigger
    | RegistrationTrigger
    | DonationTrigger
    | EventTrigger
    | SegmentEntryTrigger
    | SegmentShiftTrigger
    | RecurringDateTrigger
    | SelectionTrigger,
    Field(discriminator="type"),
]


class ExitOn(EventMatch):
    """A goal: a trip leaves the journey at once when the relation has such an event
    (leave the abandoned-cart journey when a `purchase` arrives)."""

    def describe(self) -> str:
        return f"leaves on {self.wording()}"
