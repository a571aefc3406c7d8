"""Messages: email now; SMS and the other channels join this family."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from domain.steps.base import Linear, References


class SendEmailStep(Linear):
    """Send a template to the relation, inside the journey's send window."""

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "id": "welcome",
        "type": "send_email",
        "template": "welcome",
    }

    type: Literal["send_email"]
    template: str = Field(min_length=1, description="Key of the template")

    def describe(self) -> str:
        return f"send email `{self.template}`"

    def references(self) -> References:
        return References(templates=frozenset({self.template}))


STEPS = (SendEmailStep,)
