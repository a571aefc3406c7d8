"""Flow: branch on relation data, jump, end the trip."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from domain.conditions import Condition, bounded, describe_condition, groups_mentioned
from domain.schema import StepId, is_frozen
from domain.steps.base import References, StepBase


class IfStep(StepBase):
    """Split on relation data, evaluated when the relation arrives."""

    WAYS: ClassVar[tuple[str, ...]] = ("then", "else")
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "is_member",
        "type": "if",
        "condition": {"field": "member_since", "op": "is_set"},
        "then": "thanks",
        "else": "nudge",
    }

    type: Literal["if"]
    condition: Condition
    then: StepId
    else_: StepId = Field(alias="else")

    @field_validator("condition", mode="before")
    @classmethod
    def _bounded(cls, raw: Any, info: ValidationInfo) -> Any:
        # A frozen version decoded in the workflow was bounded when it was activated.
        return raw if is_frozen(info) else bounded(raw)

    def ways_out(self) -> dict[str, str | None]:
        return {"then": self.then, "else": self.else_}

    def describe(self) -> str:
        return f"if {describe_condition(self.condition)} then `{self.then}` else `{self.else_}`"

    def references(self) -> References:
        return References(
            groups=frozenset(groups_mentioned(self.condition)), fields={"group": "condition"}
        )


class JumpStep(StepBase):
    """Go to another step (never backwards into a loop)."""

    WAYS: ClassVar[tuple[str, ...]] = ("target",)
    NEEDS_RELATION: ClassVar[bool] = False
    EXAMPLE: ClassVar[dict[str, Any]] = {"id": "to_end", "type": "jump", "target": "end"}

    type: Literal["jump"]
    target: StepId

    def ways_out(self) -> dict[str, str | None]:
        return {"target": self.target}

    def describe(self) -> str:
        return f"jump to `{self.target}`"


class ExitStep(StepBase):
    """End the trip here."""

    WAYS: ClassVar[tuple[str, ...]] = ()
    NEEDS_RELATION: ClassVar[bool] = False
    EXAMPLE: ClassVar[dict[str, Any]] = {"id": "end", "type": "exit"}

    type: Literal["exit"]

    def ways_out(self) -> dict[str, str | None]:
        return {}

    def describe(self) -> str:
        return "exit"


STEPS = (IfStep, JumpStep, ExitStep)
