"""Handler of the consent steps: unsubscribe."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts import UNSUBSCRIBE, UnsubscribeInput, UnsubscribeResult
    from domain.steps import StepBase, UnsubscribeStep

from workflows.context import Handler, TripContext


async def unsubscribe(ctx: TripContext, step: UnsubscribeStep) -> str | None:
    """One activity withdraws and records the passage (and the trip's end, when this is
    where it ends); a relation that left the journey goes no further in it."""
    ways = step.ways_out()
    ends_trip = not ways or ctx.definition.follow(step, "next") is None
    with ctx.carrying() as writes:
        result: UnsubscribeResult = await ctx.activity(
            UNSUBSCRIBE,
            UnsubscribeInput(
                passage=ctx.passage,
                relation_id=ctx.relation(),
                journey_id=ctx.trip.journey_id,
                scope=step.scope,
                writes=writes,
                ends_trip=ends_trip,
            ),
            result_type=UnsubscribeResult,
            summary=step.describe(),
        )
    ctx.closed = result.closed
    if result.detail:
        ctx.details(result.detail)
    if not (ways and result.relation_exists and result.trip_running):
        return None
    return "next"


HANDLERS: dict[type[StepBase], Handler] = {UnsubscribeStep: unsubscribe}
