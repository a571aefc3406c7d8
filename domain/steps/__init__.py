"""The step registry: every step type, one module per family.

A step type is a class in its family's module (listed in that module's `STEPS`) with a
`type` literal, its settings, `WAYS`, `EXAMPLE`, `ways_out()`, `describe()` and, if it
refers to templates, groups or segments, `references()`. The workflow side has one
handler per type in `workflows/steps/`; `tests/test_step_registry.py` fails when any of
these is missing. See the README, "Adding a step type".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from domain.steps import (
    consent,
    exports,
    flow,
    groups,
    imports,
    messages,
    relations,
    tokens,
    waits,
)
from domain.steps.base import NOTHING, Linear, References, StepBase
from domain.steps.consent import UnsubscribeStep
from domain.steps.flow import ExitStep, IfStep, JumpStep
from domain.steps.messages import SendEmailStep
from domain.steps.waits import WaitForEventStep, WaitStep, WaitUntilStep, WaitWindowStep

FAMILIES = (waits, flow, messages, consent, relations, groups, exports, imports, tokens)
STEP_TYPES: tuple[type[StepBase], ...] = tuple(t for family in FAMILIES for t in family.STEPS)

if TYPE_CHECKING:
    # Code reaches a step's behaviour through StepBase's methods; the union below is what
    # pydantic parses (tagged on `type`), built from the families so a new type is added
    # in its own module only.
    Step = StepBase
else:
    Step = Annotated[Union[STEP_TYPES], Field(discriminator="type")]  # noqa: UP007

__all__ = [
    "NOTHING",
    "STEP_TYPES",
    "ExitStep",
    "IfStep",
    "JumpStep",
    "Linear",
    "References",
    "SendEmailStep",
    "Step",
    "StepBase",
    "UnsubscribeStep",
    "WaitForEventStep",
    "WaitStep",
    "WaitUntilStep",
    "WaitWindowStep",
]
