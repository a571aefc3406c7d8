"""Handlers of the wait steps: every wait is a Temporal timer, never polling."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.calendar import after_duration, next_opening, resolve_until
    from domain.statuses import Outcome
    from domain.steps import StepBase, WaitStep, WaitUntilStep, WaitWindowStep

from workflows.context import Handler, TripContext


async def wait(ctx: TripContext, step: WaitStep) -> str:
    wake = after_duration(ctx.passage.entered_at, step.parsed, ctx.definition.zone)
    await ctx.wait(wake, step.describe(), step.label())
    return "next"


async def wait_until(ctx: TripContext, step: WaitUntilStep) -> str:
    until = resolve_until(step.until, ctx.definition.zone)
    if until <= ctx.passage.entered_at:
        ctx.note(Outcome.passed, f"{ctx.moment(until)} has passed")
    else:
        await ctx.wait(until, "wait for the moment", step.label())
    return "next"


async def wait_window(ctx: TripContext, step: WaitWindowStep) -> str:
    window = step.window
    opening = next_opening(ctx.passage.entered_at, window, ctx.definition.zone)
    if opening <= ctx.passage.entered_at:
        ctx.note(Outcome.inside_window, f"inside {window.describe()} ({ctx.definition.timezone})")
    else:
        await ctx.wait(opening, step.describe(), step.label())
    return "next"


HANDLERS: dict[type[StepBase], Handler] = {
    WaitStep: wait,
    WaitUntilStep: wait_until,
    WaitWindowStep: wait_window,
}
