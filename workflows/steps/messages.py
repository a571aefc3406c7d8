"""Handlers of the message steps."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        SEND_EMAIL,
        SendEmailInput,
        SendEmailResult,
        SendPressure,
        mail_queue,
    )
    from domain.calendar import next_opening
    from domain.statuses import Outcome, SendStatus
    from domain.steps import SendEmailStep, StepBase

from workflows.context import SENDING, Handler, TripContext

# Trips from before the contact-pressure policy waited for the send window here, in the
# journey's timezone; newer trips let the send activity judge the window in the
# relation's own timezone together with the policy, and wait for what it answers.
CONTACT_PRESSURE = "contact-pressure"


async def send_email(ctx: TripContext, step: SendEmailStep) -> str | None:
    """Send inside the send window and the contact-pressure policy, through the send
    ledger (never twice)."""
    window = ctx.definition.send_window
    policed = workflow.patched(CONTACT_PRESSURE)
    if not policed and window is not None:
        opening = next_opening(workflow.now(), window, ctx.definition.zone)
        if opening > workflow.now():
            await ctx.wait(opening, f"wait for send window {window.describe()}", step.label())
    ends_trip = ctx.definition.follow(step, "next") is None
    while True:
        pressure = (
            SendPressure(
                window=window,
                zone=ctx.definition.timezone,
                transactional=step.transactional,
                when_capped=step.when_capped,
                now=workflow.now(),
            )
            if policed
            else None
        )
        try:
            with ctx.carrying() as writes:
                result: SendEmailResult = await ctx.activity(
                    SEND_EMAIL,
                    SendEmailInput(
                        passage=ctx.passage,
                        relation_id=ctx.relation(),
                        journey_id=ctx.trip.journey_id,
                        template=step.template,
                        writes=writes,
                        ends_trip=ends_trip,
                        event_id=ctx.trip.event_id,
                        pressure=pressure,
                    ),
                    result_type=SendEmailResult,
                    summary=f"send {step.template}",
                    preset=SENDING,
                    task_queue=mail_queue(workflow.info().task_queue) if policed else None,
                )
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise  # the trip is being cancelled, not the send failing
            cause = error.cause or error
            ctx.note(Outcome.failed, f"template `{step.template}`: gave up after retries: {cause}")
            return "next"
        if result.status is not SendStatus.deferred or result.not_before is None:
            break
        # The rule that held it back is in the path while the relation waits here.
        await ctx.wait(result.not_before, f"held back: {result.detail}", step.label())
    ctx.closed = ends_trip
    ctx.details(f"send {step.template}: {result.status.value} {result.detail}".rstrip())
    return "next" if result.relation_exists else None


HANDLERS: dict[type[StepBase], Handler] = {SendEmailStep: send_email}
