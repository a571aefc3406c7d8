"""Consent: a relation withdrawing from this journey or from a channel (Deployteq's
unsubscribe object, seed 002)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from domain.schema import is_frozen
from domain.steps.base import Linear

Scope = Literal["journey", "email", "sms"]

_WORDS: dict[str, str] = {
    "journey": "unsubscribe from this journey (the trip ends here)",
    "email": "unsubscribe from all mailings (opt-in email off)",
    "sms": "unsubscribe from SMS (opt-in SMS off)",
}


class UnsubscribeStep(Linear):
    """Unsubscribe the relation: from this journey (it is never admitted to it again and
    its trip ends here), or from all future email or SMS (the opt-in goes off)."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "no_more_mail",
        "type": "unsubscribe",
        "scope": "email",
    }

    type: Literal["unsubscribe"]
    scope: Scope = Field(
        description="journey: leave this journey for good (the trip ends here); "
        "email: opt-in email off; sms: opt-in SMS off"
    )

    @field_validator("scope")
    @classmethod
    def _journey_has_no_next(cls, value: Scope, info: ValidationInfo) -> Scope:
        # `next` is declared before `scope` (in Linear), so it is in info.data here.
        if value == "journey" and info.data.get("next") is not None and not is_frozen(info):
            raise ValueError("scope 'journey' ends the trip: it has no 'next'")
        return value

    def ways_out(self) -> dict[str, str | None]:
        # A relation that left the journey goes nowhere in it: graph validation then sees
        # the trip end here, and calls any step only this one leads to unreachable.
        if self.scope == "journey":
            return {}
        return super().ways_out()

    def describe(self) -> str:
        return _WORDS[self.scope]


STEPS = (UnsubscribeStep,)
