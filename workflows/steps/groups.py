"""(Being built: handlers of the groups step family.)"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.steps import StepBase

from workflows.context import Handler

HANDLERS: dict[type[StepBase], Handler] = {}
