"""Handler of the tokens steps: encrypt."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts.tokens import ENCRYPT, EncryptInput, EncryptResult
    from domain.steps import StepBase
    from domain.steps.tokens import EncryptStep

from workflows.context import Handler, TripContext


async def encrypt(ctx: TripContext, step: EncryptStep) -> str | None:
    """One activity makes the token, stores it in the relation and records the passage
    (and the trip's end, when this is the last step). The expiry is reckoned here, from
    the passage's entered_at: the trip's own clock, the same for every attempt."""
    ends_trip = ctx.definition.follow(step, "next") is None
    with ctx.carrying() as writes:
        result: EncryptResult = await ctx.activity(
            ENCRYPT,
            EncryptInput(
                passage=ctx.passage,
                relation_id=ctx.relation(),
                fields=list(step.fields),
                into=step.into,
                expires_at=ctx.passage.entered_at + step.valid_for(),
                writes=writes,
                ends_trip=ends_trip,
            ),
            result_type=EncryptResult,
            summary=step.describe(),
        )
    ctx.closed = result.closed
    if result.detail:
        ctx.details(result.detail)
    if not (result.relation_exists and result.trip_running):
        return None
    return "next"


HANDLERS: dict[type[StepBase], Handler] = {EncryptStep: encrypt}
