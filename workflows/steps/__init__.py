"""One handler per step type, one module per family (mirroring `domain/steps/`).

A handler runs one passage of a trip through its step and returns the name of the way
out it takes (one of the step type's `WAYS`), or None to end the trip there.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.steps import StepBase

from workflows.context import Handler
from workflows.steps import (
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

HANDLERS: dict[type[StepBase], Handler] = {
    **waits.HANDLERS,
    **flow.HANDLERS,
    **messages.HANDLERS,
    **consent.HANDLERS,
    **relations.HANDLERS,
    **groups.HANDLERS,
    **exports.HANDLERS,
    **imports.HANDLERS,
    **tokens.HANDLERS,
}


def handler_for(step: StepBase) -> Handler:
    try:
        return HANDLERS[type(step)]
    except KeyError:
        raise LookupError(f"no handler for step type '{step.type}'") from None
