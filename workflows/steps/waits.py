"""Handlers of the wait steps: every wait is a Temporal timer, never polling."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts import FIND_EVENTS, EventSignal, FindEventsInput, FindEventsResult
    from domain.calendar import after_duration, next_opening, resolve_until
    from domain.statuses import Outcome
    from domain.steps import StepBase, WaitForEventStep, WaitStep, WaitUntilStep, WaitWindowStep

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


async def wait_for_event(ctx: TripContext, step: WaitForEventStep) -> str:
    """Received as soon as a matching event is signalled; one that came before the trip
    got here is found in the store first (the signal for it went to an earlier step's
    inbox, or came before the trip existed). Timed out otherwise."""
    with ctx.carrying() as writes:
        found: FindEventsResult = await ctx.activity(
            FIND_EVENTS,
            FindEventsInput(trip_id=ctx.trip.trip_id, step_id=step.id, writes=writes),
            result_type=FindEventsResult,
            summary=f"{step.label()}: events so far",
            local=True,
        )
    for event_id in found.event_ids:
        ctx.inbox.hear(EventSignal(event_id=event_id, type=step.event, steps=[step.id]))
    ctx.hear_goal(found)
    if not ctx.inbox.has(step.id):
        timeout = after_duration(ctx.passage.entered_at, step.parsed, ctx.definition.zone)
        await ctx.wait(
            timeout,
            f"wait for event '{step.event}'",
            step.label(),
            until_true=lambda: ctx.inbox.has(step.id),
        )
    signal = ctx.inbox.take(step.id)
    if signal is None:
        ctx.note(Outcome.timed_out, f"no event '{step.event}' within {step.parsed.describe()}")
        return "timeout"
    ctx.note(Outcome.received, f"event '{step.event}' (event {signal.event_id})")
    ctx.details(f"received event '{step.event}' (event {signal.event_id})")
    return "received"


HANDLERS: dict[type[StepBase], Handler] = {
    WaitStep: wait,
    WaitUntilStep: wait_until,
    WaitWindowStep: wait_window,
    WaitForEventStep: wait_for_event,
}
