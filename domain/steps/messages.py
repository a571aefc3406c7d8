"""Messages: email now; SMS and the other channels join this family."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from domain.durations import Duration
from domain.schema import Model
from domain.steps.base import Linear, References


class Conversion(Model):
    """A send converts when the relation has an event of this type within `within` of
    the send (the statistics count it)."""

    event: str = Field(min_length=1, max_length=100)
    within: str = Field(default="P7D", max_length=60, description="ISO-8601 duration")

    @field_validator("within")
    @classmethod
    def _duration(cls, value: str) -> str:
        Duration.parse(value)
        return value


class SendEmailStep(Linear):
    """Send a template to the relation, inside the journey's send window and the
    workspace's contact-pressure policy, unless the address is suppressed."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "welcome",
        "type": "send_email",
        "template": "welcome",
    }

    type: Literal["send_email"]
    template: str = Field(min_length=1, description="Key of the template")
    transactional: bool = Field(
        default=False,
        description="A receipt or confirmation: bypasses frequency caps and quiet hours "
        "(never the suppression list or opt-in) and carries no List-Unsubscribe",
    )
    when_capped: Literal["wait", "skip"] = Field(
        default="wait",
        description="A frequency cap reached: wait for the next allowed moment, or skip",
    )
    conversion: Conversion | None = Field(
        default=None, description="What counts as this mail's conversion"
    )

    def describe(self) -> str:
        return f"send email `{self.template}`"

    def references(self) -> References:
        return References(templates=frozenset({self.template}))


STEPS = (SendEmailStep,)
