"""What a step handler may do to its trip: record its passage, wait, show details in the
Web UI and run an activity with one of the retry presets.

Bookkeeping rides along: a passage's state is queued and written by the next activity
the trip runs anyway (a send, a check, the trip's end), or by one local activity right
before a timer, so a step costs no Temporal round trip of its own just to be recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        FIND_EVENTS,
        FINISH_TRIP,
        RECORD_PASSAGES,
        RELATION_ID,
        STEP,
        EventSignal,
        FindEventsInput,
        FindEventsResult,
        FinishTripInput,
        PassageKey,
        PassageWrite,
        RecordPassagesInput,
        TripInput,
    )
    from domain.calendar import describe_moment
    from domain.definition import JourneyDefinition
    from domain.statuses import Outcome, TripStatus
    from domain.steps import StepBase

T = TypeVar("T")


@dataclass(frozen=True)
class Preset:
    """Timeouts and retries of one kind of activity."""

    start_to_close: timedelta
    retry: RetryPolicy


# Bookkeeping and reads retry until the database is back: losing a path row is not an option.
BOOKKEEPING = Preset(timedelta(seconds=30), RetryPolicy(maximum_interval=timedelta(minutes=1)))
# SMTP 4xx and connection errors retry with backoff for about half an hour, then the send is
# recorded as failed and the trip goes on (a journey must not stall on one mailbox).
SENDING = Preset(
    timedelta(seconds=30),
    RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=10),
        maximum_attempts=10,
    ),
)


class LeftJourney(Exception):
    """A goal event arrived (the journey's `exit_on`): the trip ends where it is."""

    def __init__(self, signal: EventSignal) -> None:
        super().__init__(f"left on event '{signal.type}' (event {signal.event_id})")
        self.signal = signal


class Inbox:
    """Events signalled to the trip (ids and the steps and goals they match). Kept from
    the trip's start, so one that arrives before the trip reaches its wait_for_event
    step still counts there; each event ends at most one wait."""

    def __init__(self) -> None:
        self.pending: list[EventSignal] = []
        self.used: set[int] = set()
        self.exit: EventSignal | None = None

    def hear(self, signal: EventSignal) -> None:
        if signal.exits and self.exit is None:
            self.exit = signal
        if signal.steps and signal.event_id not in self.used:
            self.pending.append(signal)

    def has(self, step_id: str) -> bool:
        return any(step_id in s.steps and s.event_id not in self.used for s in self.pending)

    def take(self, step_id: str) -> EventSignal | None:
        for signal in sorted(self.pending, key=lambda s: s.event_id):
            if step_id in signal.steps and signal.event_id not in self.used:
                self.used.add(signal.event_id)
                return signal
        return None


class TripContext:
    def __init__(
        self, trip: TripInput, definition: JourneyDefinition, inbox: Inbox | None = None
    ) -> None:
        self.trip = trip
        self.definition = definition
        self.inbox = inbox or Inbox()
        self.path: list[str] = []
        # The admission set the Step search attribute to the first step.
        self._shown_step: str | None = trip.start_at or definition.steps[0].id
        self._passage: PassageKey | None = None
        self._pending: list[PassageWrite] = []
        # The store already recorded the trip's end (the last step's activity did it).
        self.closed = False
        self._relation_id = trip.relation_id

    # --- the relation -----------------------------------------------------------------

    @property
    def relation_id(self) -> int | None:
        """The relation travelling now: None until a step gives a trip that an event
        without a known relation started one (lookup, add, upsert may also change it)."""
        return self._relation_id

    def relation(self) -> int:
        """For the steps that act on the relation: graph validation makes sure a trip
        has one by the time it reaches them."""
        if self._relation_id is None:
            raise LookupError(f"step '{self.passage.step_id}' needs a relation; the trip has none")
        return self._relation_id

    def become(self, relation_id: int) -> None:
        """The trip travels on as this relation (its row was changed by the step's
        activity); the Web UI's RelationId follows."""
        if relation_id != self._relation_id:
            self._relation_id = relation_id
            workflow.upsert_search_attributes([RELATION_ID.value_set(str(relation_id))])

    # --- the path ---------------------------------------------------------------------

    @property
    def passage(self) -> PassageKey:
        assert self._passage is not None, "no step entered yet"
        return self._passage

    def enter(self, step: StepBase) -> PassageKey:
        seq = self._passage.seq + 1 if self._passage else 1
        self._passage = PassageKey(
            trip_id=self.trip.trip_id,
            seq=seq,
            step_id=step.id,
            step_type=step.type,
            entered_at=workflow.now(),
        )
        self.path.append(step.id)
        return self._passage

    def note(
        self, outcome: Outcome, detail: str = "", waiting_until: datetime | None = None
    ) -> None:
        """Queue the current passage's state; a later note for it replaces this one."""
        passage = self.passage
        self._pending = [w for w in self._pending if w.passage.seq != passage.seq]
        self._pending.append(
            PassageWrite(
                passage=passage, outcome=outcome, detail=detail, waiting_until=waiting_until
            )
        )

    @contextmanager
    def carrying(self) -> Iterator[list[PassageWrite]]:
        """The queued writes, for the activity run inside this block to do in its own
        transaction. Unless the block ends normally (the activity reported success), they
        are queued again, so the next activity (or the trip's end, after a cancel) writes
        them: a write is only forgotten once an activity confirmed it."""
        writes, self._pending = self._pending, []
        try:
            yield writes
        except BaseException:
            later = {w.passage.seq for w in self._pending}
            self._pending = [w for w in writes if w.passage.seq not in later] + self._pending
            raise

    async def flush(self) -> None:
        if self._pending:
            with self.carrying() as writes:
                await self.activity(
                    RECORD_PASSAGES,
                    RecordPassagesInput(writes=writes),
                    summary=f"record {', '.join(w.passage.step_id for w in writes)}",
                    local=True,
                )

    # --- the Web UI -------------------------------------------------------------------

    def show(self) -> None:
        """Keep the Step search attribute on the step the trip stays at (one event per
        change, and none for steps it only passes through)."""
        step_id = self.passage.step_id
        if step_id != self._shown_step:
            workflow.upsert_search_attributes([STEP.value_set(step_id)])
            self._shown_step = step_id

    def details(self, words: str) -> None:
        passage = self.passage
        workflow.set_current_details(
            f"**At step `{passage.step_id}`** ({passage.step_type}): {words}\n\n"
            f"Path: {' → '.join(self.path)}"
        )

    def moment(self, at: datetime) -> str:
        return describe_moment(at, self.definition.zone)

    # --- waiting and working ----------------------------------------------------------

    async def wait(
        self,
        until: datetime,
        words: str,
        label: str,
        *,
        until_true: Callable[[], bool] | None = None,
    ) -> bool:
        """A durable timer; support staff see the relation waiting at this step. With
        `until_true`, it ends early when that becomes true (a signalled event), and
        returns True then. A goal event ends it too, by raising LeftJourney."""
        detail = f"{words}, until {self.moment(until)}"
        self.note(Outcome.waiting, detail, waiting_until=until)
        self.show()
        await self.flush()
        self.details(detail)
        delay = until - workflow.now()
        early = False
        if delay > timedelta(0):
            early = await self._timer(delay, f"{label}: {words}", until_true)
        self.note(Outcome.waited, detail, waiting_until=until)
        return early

    async def _timer(
        self, delay: timedelta, summary: str, until_true: Callable[[], bool] | None
    ) -> bool:
        if until_true is None and not self.definition.exit_on:
            # As before events: the same timer command, so running trips replay.
            await workflow.sleep(delay, summary=summary)
            return False
        done = until_true or (lambda: False)
        try:
            await workflow.wait_condition(
                lambda: done() or self.inbox.exit is not None,
                timeout=delay,
                timeout_summary=summary,
            )
        except TimeoutError:
            # A goal that came in the same task as the timer still wins.
            self.check_exit()
            return False
        self.check_exit()
        return True

    def check_exit(self) -> None:
        if self.inbox.exit is not None and self.definition.exit_on:
            raise LeftJourney(self.inbox.exit)

    def hear_goal(self, found: FindEventsResult) -> None:
        """A goal event the store had (see find_events) ends the trip like a signal."""
        if found.exit_event_id is not None:
            self.inbox.hear(
                EventSignal(
                    event_id=found.exit_event_id, type=found.exit_event_type or "", exits=True
                )
            )
            self.check_exit()

    async def goals_so_far(self) -> None:
        """At the start of a trip with goals: a goal event that came while the trip was
        being admitted (its dispatch found no trip, or no workflow yet, to signal) ends
        it before its first step does anything."""
        with self.carrying() as writes:
            found: FindEventsResult = await self.activity(
                FIND_EVENTS,
                FindEventsInput(trip_id=self.trip.trip_id, writes=writes),
                result_type=FindEventsResult,
                summary="goal events so far",
                local=True,
            )
        self.hear_goal(found)

    async def activity(
        self,
        name: str,
        arg: Any,
        *,
        summary: str,
        result_type: type[T] | None = None,
        preset: Preset = BOOKKEEPING,
        local: bool = False,
        task_queue: str | None = None,
    ) -> Any:
        options: dict[str, Any] = dict(
            result_type=result_type,
            start_to_close_timeout=preset.start_to_close,
            retry_policy=preset.retry,
            summary=summary,
        )
        if task_queue is not None:
            options["task_queue"] = task_queue
        if local:
            # Done within the current workflow task: the trip does not stay at this step
            # long enough for the Web UI to need to show it.
            return await workflow.execute_local_activity(name, arg, **options)
        self.show()
        return await workflow.execute_activity(name, arg, **options)

    async def finish(self, status: TripStatus) -> None:
        if not self.closed:
            if status == TripStatus.cancelled and self._passage is not None:
                # Where it was stopped; an activity of this passage that still completes
                # (a mail that did go out) records its own final outcome over this one.
                self.note(Outcome.cancelled)
            with self.carrying() as writes:
                await self.activity(
                    FINISH_TRIP,
                    FinishTripInput(
                        trip_id=self.trip.trip_id,
                        status=status,
                        ended_at=workflow.now(),
                        writes=writes,
                    ),
                    summary=f"trip {status.value}",
                    local=True,
                )
            self.closed = True
        workflow.set_current_details(
            f"**Trip {status.value}**\n\nPath: {' → '.join(self.path) or '(none)'}"
        )


# A step type's handler: runs one passage and names the way out it takes (one of the
# type's WAYS), or None to end the trip there.
Handler = Callable[[TripContext, Any], Awaitable[str | None]]
