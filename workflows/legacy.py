"""The trip interpreter as it ran before bookkeeping was folded into the steps' activities.

Trips started by that code have no `bookkeeping-folded` patch marker in their history
and must replay exactly the commands it gave: a `record_step` activity per step, a
search-attribute upsert per step, `finish_trip` as an activity. `TripWorkflow.run` hands
them to `LegacyTrip`. Frozen: do not change what it does. Remove it (and the
`record_step` activity) at the `deprecate_patch` stage described in the README, once no
trip started before the patch is running.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        CHECK_CONDITION,
        FINISH_TRIP,
        RECORD_STEP,
        SEND_EMAIL,
        STEP,
        CheckConditionInput,
        CheckConditionResult,
        FinishTripInput,
        PassageKey,
        RecordStepInput,
        SendEmailInput,
        SendEmailResult,
        TripInput,
    )
    from domain.calendar import after_duration, next_opening, resolve_until
    from domain.definition import JourneyDefinition
    from domain.statuses import TripStatus
    from domain.steps import (
        ExitStep,
        IfStep,
        JumpStep,
        SendEmailStep,
        StepBase,
        WaitStep,
        WaitUntilStep,
        WaitWindowStep,
    )

Step = StepBase


def next_step(definition: JourneyDefinition, step: Step, branch: bool | None = None) -> str | None:
    if isinstance(step, IfStep):
        return step.then if branch else step.else_
    ways = list(step.ways_out())
    return definition.follow(step, ways[0]) if ways else None


# Bookkeeping writes retry until the database is back: losing a path row is not an option.
_BOOKKEEPING_TIMEOUT = timedelta(seconds=30)
_BOOKKEEPING_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
# SMTP 4xx and connection errors retry with backoff for about half an hour, then the send is
# recorded as failed and the trip goes on (a journey must not stall on one mailbox).
_SENDING_TIMEOUT = timedelta(seconds=30)
_SENDING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=10,
)


class LegacyTrip:
    def __init__(self) -> None:
        self._path: list[str] = []

    async def run(self, trip: TripInput) -> str:
        definition = trip.frozen_definition()
        seq = 0
        step_id: str | None = definition.steps[0].id
        try:
            while step_id is not None:
                step = definition.step(step_id)
                seq += 1
                visit = PassageKey(
                    trip_id=trip.trip_id,
                    seq=seq,
                    step_id=step.id,
                    step_type=step.type,
                    entered_at=workflow.now(),
                )
                workflow.upsert_search_attributes([STEP.value_set(step.id)])
                self._path.append(step.id)
                step_id = await self._visit(trip, definition, step, visit)
            await self._finish(trip, TripStatus.completed)
        except BaseException as error:
            # A cancel (deactivate with mode=cancel) arrives as CancelledError during a
            # timer, or as an ActivityError caused by it during an activity: either way,
            # close the trip in our store, then let Temporal mark the workflow cancelled.
            if is_cancelled_exception(error):
                await self._finish(trip, TripStatus.cancelled)
            raise
        return " > ".join(self._path)

    async def _visit(
        self, trip: TripInput, definition: JourneyDefinition, step: Step, visit: PassageKey
    ) -> str | None:
        if isinstance(step, WaitStep):
            duration = step.parsed
            wake = after_duration(visit.entered_at, duration, definition.zone)
            await self._wait(visit, wake, f"wait {duration.describe()}", step.label())
        elif isinstance(step, WaitUntilStep):
            until = resolve_until(step.until, definition.zone)
            if until <= visit.entered_at:
                await self._record(visit, "passed", f"{until:%Y-%m-%d %H:%M} UTC has passed")
            else:
                await self._wait(
                    visit, until, f"wait until {until:%Y-%m-%d %H:%M} UTC", step.label()
                )
        elif isinstance(step, WaitWindowStep):
            opening = next_opening(visit.entered_at, step.window, definition.zone)
            if opening <= visit.entered_at:
                await self._record(visit, "inside_window", step.window.describe())
            else:
                await self._wait(
                    visit, opening, f"wait for window {step.window.describe()}", step.label()
                )
        elif isinstance(step, IfStep):
            checked: CheckConditionResult = await workflow.execute_activity(
                CHECK_CONDITION,
                CheckConditionInput(
                    passage=visit, relation_id=trip.relation_id, condition=step.condition
                ),
                result_type=CheckConditionResult,
                summary=f"check {step.label()}",
                start_to_close_timeout=_BOOKKEEPING_TIMEOUT,
                retry_policy=_BOOKKEEPING_RETRY,
            )
            if not checked.relation_exists:
                return None
            self._details(visit, f"took '{'then' if checked.result else 'else'}': {checked.reason}")
            return next_step(definition, step, checked.result)
        elif isinstance(step, JumpStep):
            await self._record(visit, "jumped", f"to {step.target}")
        elif isinstance(step, SendEmailStep):
            if not await self._send(trip, definition, step, visit):
                return None
        elif isinstance(step, ExitStep):
            await self._record(visit, "exited", "")
            return None
        return next_step(definition, step)

    async def _wait(self, visit: PassageKey, until: datetime, words: str, label: str) -> None:
        await self._record(visit, "waiting", words, waiting_until=until)
        self._details(visit, f"{words} (until {until:%Y-%m-%d %H:%M} UTC)")
        delay = until - workflow.now()
        if delay > timedelta(0):
            await workflow.sleep(delay, summary=f"{label}: {words}")

    async def _send(
        self, trip: TripInput, definition: JourneyDefinition, step: SendEmailStep, visit: PassageKey
    ) -> bool:
        """Send inside the send window; False when the relation no longer exists."""
        window = definition.send_window
        if window is not None:
            opening = next_opening(workflow.now(), window, definition.zone)
            if opening > workflow.now():
                await self._wait(
                    visit, opening, f"wait for send window {window.describe()}", step.label()
                )
        try:
            result: SendEmailResult = await workflow.execute_activity(
                SEND_EMAIL,
                SendEmailInput(
                    passage=visit,
                    relation_id=trip.relation_id,
                    journey_id=trip.journey_id,
                    template=step.template,
                ),
                result_type=SendEmailResult,
                summary=f"send {step.template}",
                start_to_close_timeout=_SENDING_TIMEOUT,
                retry_policy=_SENDING_RETRY,
            )
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise  # the trip is being cancelled, not the send failing
            cause = error.cause or error
            await self._record(visit, "failed", f"gave up after retries: {cause}")
            return True
        self._details(visit, f"send {step.template}: {result.status.value} {result.detail}")
        return result.relation_exists

    async def _record(
        self, visit: PassageKey, outcome: str, detail: str, waiting_until: datetime | None = None
    ) -> None:
        await workflow.execute_activity(
            RECORD_STEP,
            RecordStepInput(
                passage=visit, outcome=outcome, detail=detail, waiting_until=waiting_until
            ),
            summary=f"record {visit.step_id}: {outcome}",
            start_to_close_timeout=_BOOKKEEPING_TIMEOUT,
            retry_policy=_BOOKKEEPING_RETRY,
        )

    async def _finish(self, trip: TripInput, status: TripStatus) -> None:
        await workflow.execute_activity(
            FINISH_TRIP,
            FinishTripInput(trip_id=trip.trip_id, status=status, ended_at=workflow.now()),
            summary=f"trip {status.value}",
            start_to_close_timeout=_BOOKKEEPING_TIMEOUT,
            retry_policy=_BOOKKEEPING_RETRY,
        )
        workflow.set_current_details(
            f"**Trip {status.value}**\n\nPath: {' → '.join(self._path) or '(none)'}"
        )

    def _details(self, visit: PassageKey, words: str) -> None:
        workflow.set_current_details(
            f"**At step `{visit.step_id}`** ({visit.step_type}): {words}\n\n"
            f"Path: {' → '.join(self._path)}"
        )
