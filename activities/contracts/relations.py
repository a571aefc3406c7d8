"""The relation data steps' activities (domain/steps/relations.py): one per step type.

Inputs carry ids and the step's settings (field names, fixed values, payload keys), which
the journey definition in the trip's history holds already; values from the event are
read by the activity from the store, never passed through Temporal.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from activities.contracts import PassageKey, PassageWrite
from domain.relation_fields import EVENT_PREFIX, FieldValue, Scalar

# Activity types. Names are part of every recorded history: never rename one.
UPDATE_RELATION = "update_relation"
LOOKUP_RELATION = "lookup_relation"
ADD_RELATION = "add_relation"
UPSERT_RELATION = "upsert_relation"
DELETE_RELATION = "delete_relation"


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True)


class FieldInput(_Contract):
    """A step's value as the activity gets it: checked when the journey was activated,
    not again here (a rule made stricter later must not fail a running trip's retry)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    field: str
    from_: str | None = Field(default=None, alias="from")
    value: Scalar = None
    unique: bool = False

    @classmethod
    def of(cls, given: FieldValue) -> FieldInput:
        return cls(
            field=given.field,
            from_=given.from_,
            value=given.value,
            unique=bool(getattr(given, "unique", False)),
        )

    @property
    def event_key(self) -> str | None:
        return self.from_[len(EVENT_PREFIX) :] if self.from_ is not None else None


def field_inputs(values: Sequence[FieldValue]) -> list[FieldInput]:
    return [FieldInput.of(v) for v in values]


class _StepInput(_Contract):
    """The passage is recorded with the change; (trip, step) keys the change's record
    (store/effects.py), so a retry returns what the first attempt did."""

    passage: PassageKey
    # The event that admitted the trip: `from: event.<key>` reads its payload.
    event_id: int | None = None
    writes: list[PassageWrite] = Field(default_factory=list, description="written first")


class UpdateRelationInput(_StepInput):
    relation_id: int
    values: list[FieldInput]


class LookupRelationInput(_StepInput):
    match: list[FieldInput]


class AddRelationInput(_StepInput):
    values: list[FieldInput]


class UpsertRelationInput(_StepInput):
    values: list[FieldInput]


class DeleteRelationInput(_StepInput):
    relation_id: int


class RelationStepResult(_Contract):
    # The way out to take; None: the trip ends here (deleted, or its relation is gone).
    way: str | None = None
    # The relation the trip travels as from here (found, added, upserted).
    relation_id: int | None = None
    detail: str = ""  # field names and counts, never values
    trip_running: bool = True  # False: cancelled (or gone) before this attempt; nothing done
    closed: bool = False  # the trip's end was recorded with the outcome
