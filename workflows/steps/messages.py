"""Handlers of the message steps."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.contracts import SEND_EMAIL, SendEmailInput, SendEmailResult
    from domain.calendar import next_opening
    from domain.statuses import Outcome
    from domain.steps import SendEmailStep, StepBase

from workflows.context import SENDING, Handler, TripContext


async def send_email(ctx: TripContext, step: SendEmailStep) -> str | None:
    """Send inside the send window, through the send ledger (never twice)."""
    window = ctx.definition.send_window
    if window is not None:
        opening = next_opening(workflow.now(), window, ctx.definition.zone)
        if opening > workflow.now():
            await ctx.wait(opening, f"wait for send window {window.describe()}", step.label())
    ends_trip = ctx.definition.follow(step, "next") is None
    try:
        with ctx.carrying() as writes:
            result: SendEmailResult = await ctx.activity(
                SEND_EMAIL,
                SendEmailInput(
                    passage=ctx.passage,
                    relation_id=ctx.trip.relation_id,
                    journey_id=ctx.trip.journey_id,
                    template=step.template,
                    writes=writes,
                    ends_trip=ends_trip,
                    event_id=ctx.trip.event_id,
                ),
                result_type=SendEmailResult,
                summary=f"send {step.template}",
                preset=SENDING,
            )
    except ActivityError as error:
        if is_cancelled_exception(error):
            raise  # the trip is being cancelled, not the send failing
        cause = error.cause or error
        ctx.note(Outcome.failed, f"template `{step.template}`: gave up after retries: {cause}")
        return "next"
    ctx.closed = ends_trip
    ctx.details(f"send {step.template}: {result.status.value} {result.detail}".rstrip())
    return "next" if result.relation_exists else None


HANDLERS: dict[type[StepBase], Handler] = {SendEmailStep: send_email}
