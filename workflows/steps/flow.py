"""Handlers of the flow steps: branch, jump, exit."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts import CHECK_CONDITION, CheckConditionInput, CheckConditionResult
    from domain.statuses import Outcome
    from domain.steps import ExitStep, IfStep, JumpStep, StepBase

from workflows.context import Handler, TripContext


async def if_(ctx: TripContext, step: IfStep) -> str | None:
    # Checked on the relation's data as it is now, by a local activity that also writes
    # the queued passages and this one with the branch taken and why.
    with ctx.carrying() as writes:
        checked: CheckConditionResult = await ctx.activity(
            CHECK_CONDITION,
            CheckConditionInput(
                passage=ctx.passage,
                relation_id=ctx.relation(),
                condition=step.condition,
                writes=writes,
                event_id=ctx.trip.event_id,
            ),
            result_type=CheckConditionResult,
            summary=f"check {step.label()}",
            local=True,
        )
    if not checked.relation_exists:
        return None
    way = "then" if checked.result else "else"
    ctx.details(f"took '{way}': {checked.reason}")
    return way


async def jump(ctx: TripContext, step: JumpStep) -> str:
    ctx.note(Outcome.jumped, f"to {step.target}")
    return "target"


async def exit_(ctx: TripContext, step: ExitStep) -> None:
    ctx.note(Outcome.exited)
    return None


HANDLERS: dict[type[StepBase], Handler] = {IfStep: if_, JumpStep: jump, ExitStep: exit_}
