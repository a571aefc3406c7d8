"""Relation data: the steps that change the CRM itself (Deployteq's update, look up, add,
add-or-update and delete relation objects, seed 002).

Values are fixed or come from the payload of the event that admitted the trip (see
`domain/relation_fields.py`). Lookup, add and upsert give the trip its relation: a trip
started by an event that names no known relation (an `event` trigger with
`without_relation`) has none until one of them ran.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from domain.errors import DefinitionIssue
from domain.relation_fields import FieldValue, UniqueFieldValue, names, no_repeats
from domain.schema import StepId, is_frozen
from domain.steps.base import Linear, StepBase

if TYPE_CHECKING:
    from domain.definition import JourneyDefinition

MAX_VALUES = 50
MAX_MATCH = 10
# Triggers that admit many relations at once (a segment's members at activation, a
# day's birthdays, a selection run): a delete step in their journey deletes them all.
MANY_AT_ONCE = frozenset({"segment_entry", "recurring_date", "selection"})
CONFIRM_DELETE_MANY = "delete_many"


class UpdateRelationStep(Linear):
    """Write fields of the trip's relation; its segments are re-evaluated at once, so a
    segment trigger (entry or shift) can follow from it."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "remember_city",
        "type": "update_relation",
        "set": [{"field": "city", "from": "event.city"}, {"field": "member", "value": True}],
    }

    type: Literal["update_relation"]
    set_: list[FieldValue] = Field(
        alias="set", min_length=1, max_length=MAX_VALUES, description="Fields and their values"
    )

    _one_each = field_validator("set_")(no_repeats)

    def describe(self) -> str:
        return f"update the relation: {names(self.set_)}"


class LookupRelationStep(StepBase):
    """Find the relation whose fields equal all these values (email compared without
    regard to case); the trip goes on as that relation. Of several, the oldest."""

    WAYS: ClassVar[tuple[str, ...]] = ("found", "not_found")
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "known",
        "type": "lookup_relation",
        "match": [{"field": "email", "from": "event.email"}],
        "on_not_found": "add",
    }
    NEEDS_RELATION: ClassVar[bool] = False

    type: Literal["lookup_relation"]
    match: list[FieldValue] = Field(
        min_length=1,
        max_length=MAX_MATCH,
        description="Conditions, all of which must hold: a field and the value it must have",
    )
    on_found: StepId | None = Field(default=None, description="default: the next in the list")
    on_not_found: StepId | None = Field(default=None, description="default: the next in the list")

    @field_validator("match")
    @classmethod
    def _comparable(cls, match: list[FieldValue], info: ValidationInfo) -> list[FieldValue]:
        no_repeats(match, info)
        for index, item in enumerate(match):
            if item.from_ is None and item.value is None and not is_frozen(info):
                raise PydanticCustomError(
                    "match_value",
                    "[{index}]: compare '{field}' with a value, not null",
                    {"index": index, "field": item.field},
                )
        return match

    def ways_out(self) -> dict[str, str | None]:
        return {"found": self.on_found, "not_found": self.on_not_found}

    def gives_relation(self) -> frozenset[str]:
        return frozenset({"found"})

    def describe(self) -> str:
        return f"look up the relation by {names(self.match)}"


class AddRelationStep(Linear):
    """Create a relation (opt-in email yes and opt-in SMS no unless set, as in the seed)
    without looking for an existing one; the trip goes on as the new relation."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "add_friend",
        "type": "add_relation",
        "set": [
            {"field": "email", "from": "event.friend_email"},
            {"field": "first_name", "from": "event.friend_name"},
        ],
    }
    NEEDS_RELATION: ClassVar[bool] = False

    type: Literal["add_relation"]
    set_: list[FieldValue] = Field(
        alias="set", min_length=1, max_length=MAX_VALUES, description="Fields and their values"
    )

    _one_each = field_validator("set_")(no_repeats)

    def gives_relation(self) -> frozenset[str]:
        return frozenset(self.WAYS)

    def describe(self) -> str:
        return f"add a new relation with {names(self.set_)}"


class UpsertRelationStep(StepBase):
    """Update the relation whose `unique` fields all equal the values, or create it when
    there is none (Deployteq's add-or-update, de-duplicated); the trip goes on as it.
    Ways: `existing`, `new`, each leading where `next` leads unless set."""

    WAYS: ClassVar[tuple[str, ...]] = ("next", "existing", "new")
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "sign_up",
        "type": "upsert_relation",
        "set": [
            {"field": "email", "from": "event.email", "unique": True},
            {"field": "first_name", "from": "event.name"},
        ],
    }
    NEEDS_RELATION: ClassVar[bool] = False

    type: Literal["upsert_relation"]
    set_: list[UniqueFieldValue] = Field(
        alias="set",
        min_length=1,
        max_length=MAX_VALUES,
        description="Fields and their values; those marked `unique` find the existing relation",
    )
    next: StepId | None = Field(default=None, description="default: the next in the list")
    on_existing: StepId | None = Field(
        default=None, description="after updating an existing relation; default: `next`"
    )
    on_new: StepId | None = Field(
        default=None, description="after creating a new relation; default: `next`"
    )

    @field_validator("set_")
    @classmethod
    def _some_unique(
        cls, values: list[UniqueFieldValue], info: ValidationInfo
    ) -> list[UniqueFieldValue]:
        no_repeats(list(values), info)
        if not is_frozen(info) and not any(v.unique for v in values):
            raise PydanticCustomError(
                "unique", "mark at least one field `unique: true` to find an existing relation"
            )
        return values

    @property
    def unique(self) -> list[UniqueFieldValue]:
        return [v for v in self.set_ if v.unique]

    def ways_out(self) -> dict[str, str | None]:
        return {
            "next": self.next,
            "existing": self.on_existing or self.next,
            "new": self.on_new or self.next,
        }

    def gives_relation(self) -> frozenset[str]:
        return frozenset(self.WAYS)

    def describe(self) -> str:
        return f"add or update the relation, unique on {names(self.unique)}"


class DeleteRelationStep(StepBase):
    """Delete the trip's relation for good: personal data, events and memberships; its
    other running trips are cancelled. Irreversible. The trip ends here."""

    WAYS: ClassVar[tuple[str, ...]] = ()
    EXAMPLE: ClassVar[dict[str, Any]] = {"id": "forget", "type": "delete_relation"}

    type: Literal["delete_relation"]
    many: bool = Field(
        default=False,
        description="Confirms that this journey may delete many relations at once (a "
        "segment, recurring date or selection trigger); activation also asks for "
        "?confirm=delete_many",
    )

    def ways_out(self) -> dict[str, str | None]:
        return {}

    def describe(self) -> str:
        many = " (each of many admitted at once)" if self.many else ""
        return f"delete the relation for good{many}: irreversible; the trip ends here"


def delete_many_issues(definition: JourneyDefinition, confirmed: bool) -> list[DefinitionIssue]:
    """Deleting many relations at once must be asked for twice: `many: true` on the step
    (when a trigger admits many at once) and `?confirm=delete_many` at activation."""
    at_once = [
        definition.trigger_label(i)
        for i, trigger in enumerate(definition.triggers)
        if trigger.type in MANY_AT_ONCE
    ]
    issues: list[DefinitionIssue] = []
    for index, step in enumerate(definition.steps):
        if not isinstance(step, DeleteRelationStep):
            continue
        loc = ("steps", index, "many")
        if not step.many and at_once:
            issues.append(
                DefinitionIssue(
                    loc,
                    f"step '{step.id}': this journey admits many relations at once "
                    f"({'; '.join(at_once)}); set many: true to delete each of them, and "
                    "confirm at activation",
                )
            )
        elif step.many and not confirmed:
            issues.append(
                DefinitionIssue(
                    loc,
                    f"step '{step.id}': deletes many relations: confirm with "
                    f"?confirm={CONFIRM_DELETE_MANY}",
                )
            )
    return issues


STEPS = (
    UpdateRelationStep,
    LookupRelationStep,
    AddRelationStep,
    UpsertRelationStep,
    DeleteRelationStep,
)
