"""Dispatch: act on one stored cause (an event, a segment change) at once.

The API stores the cause and starts the Dispatch workflow for it before it answers, so
once the caller has a 2xx both are durable: if the API dies right after, Temporal still
runs the dispatch, and its activity is retried until it succeeded. The activity:
- admits the relation to every active journey that a trigger admits it to: the first
  matching trigger of each journey names the trip's cause, keyed by the event (or the
  change), so two triggers of one journey, a retry, or an event delivered twice start
  one trip, and the journey's re-entry setting decides the rest;
- tells the relation's running trips that listen for the event's type (a goal, a
  wait_for_event step) which of their steps and goals it matches, by a signal that
  carries ids only (the payload stays in the database);
- marks the cause dispatched (the trip-sync schedule re-dispatches any cause that a
  crash left undispatched: a field change whose API process died before the start).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.admission import AdmissionConflict, Cause, admit
from activities.contracts import (
    DISPATCH,
    DISPATCH_WORKFLOW,
    EVENT_SIGNAL,
    DispatchInput,
    DispatchResult,
    EventSignal,
)
from domain.definition import JourneyDefinition, parse_frozen
from domain.statuses import TripStatus
from domain.steps import WaitForEventStep
from store import journeys
from store.db import session_scope
from store.errors import NotFound
from store.models import Event, SegmentChange, Trip, utcnow


def dispatch_id(*, event_id: int | None = None, change_id: int | None = None) -> str:
    return f"dispatch:event:{event_id}" if event_id is not None else f"dispatch:change:{change_id}"


async def start_dispatch(
    client: Client, task_queue: str, *, event_id: int | None = None, change_id: int | None = None
) -> None:
    """Start the cause's dispatch; a second start (a repeated idempotency key, the
    sweeper) finds the first and does nothing."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            DISPATCH_WORKFLOW,
            DispatchInput(event_id=event_id, change_id=change_id),
            id=dispatch_id(event_id=event_id, change_id=change_id),
            task_queue=task_queue,
            # A dispatch that completed is never repeated; one that failed or was
            # terminated may be started again (by the trip-sync schedule).
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            static_summary=f"event {event_id}" if event_id is not None else f"change {change_id}",
        )


@dataclass
class _Cause:
    relation_id: int | None  # None: an event that names no known relation
    event: Event | None
    change: SegmentChange | None
    key: str
    entered: frozenset[str] = field(default_factory=frozenset)
    left: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class _Admission:
    journey_id: int
    trigger: str


class DispatchActivities:
    def __init__(self, engine: Engine, client: Client, task_queue: str) -> None:
        self._engine = engine
        self._client = client
        self._task_queue = task_queue
        # Frozen versions never change: parse each once per worker.
        self._definitions: dict[tuple[int, int], JourneyDefinition] = {}

    @activity.defn(name=DISPATCH)
    async def dispatch(self, data: DispatchInput) -> DispatchResult:
        found = await asyncio.to_thread(self._plan, data)
        if found is None:
            return DispatchResult()
        cause, admissions, signals = found
        admitted: list[str] = []
        refused = 0
        for plan in admissions:
            event_id = cause.event.id if cause.event is not None else None
            try:
                trip = await admit(
                    self._client,
                    self._engine,
                    self._task_queue,
                    plan.journey_id,
                    cause.relation_id,
                    Cause(trigger=plan.trigger, event_id=event_id, key=cause.key),
                    eager=True,
                )
            except (AdmissionConflict, NotFound):
                refused += 1
                continue
            admitted.append(trip.id)
        signalled = []
        for trip_id, signal in signals:
            try:
                await self._client.get_workflow_handle(trip_id).signal(EVENT_SIGNAL, signal)
            except RPCError as error:
                # The trip ended meanwhile: nothing to tell it.
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                continue
            signalled.append(trip_id)
        await asyncio.to_thread(self._done, data)
        return DispatchResult(admitted=admitted, refused=refused, signalled=signalled)

    # --- what to do -------------------------------------------------------------------

    def _plan(
        self, data: DispatchInput
    ) -> tuple[_Cause, list[_Admission], list[tuple[str, EventSignal]]] | None:
        with session_scope(self._engine) as session:
            cause = self._cause(session, data)
            if cause is None:
                return None
            admissions = [
                plan
                for journey_id, definition in self._active(session)
                if (plan := self._match(journey_id, definition, cause)) is not None
            ]
            signals = self._signals(session, cause) if cause.event is not None else []
            return cause, admissions, signals

    def _cause(self, session: Session, data: DispatchInput) -> _Cause | None:
        if data.event_id is not None:
            event = session.get(Event, data.event_id)
            if event is None:  # erased with its relation
                return None
            change = session.get(SegmentChange, event.change_id) if event.change_id else None
            cause = _Cause(event.relation_id, event, change, key=f"event:{event.id}")
        else:
            change = session.get(SegmentChange, data.change_id)
            if change is None:
                return None
            cause = _Cause(change.relation_id, None, change, key=f"change:{change.id}")
        if cause.change is not None:
            cause.entered = frozenset(cause.change.entered)
            cause.left = frozenset(cause.change.left)
        return cause

    def _definition(self, session: Session, journey_id: int, version: int) -> JourneyDefinition:
        key = (journey_id, version)
        found = self._definitions.get(key)
        if found is None:
            frozen = journeys.version(session, journey_id, version)
            found = self._definitions[key] = parse_frozen(frozen.definition)
        return found

    def _active(self, session: Session) -> list[tuple[int, JourneyDefinition]]:
        return [
            (frozen.journey_id, self._definition(session, frozen.journey_id, frozen.version))
            for frozen in journeys.active_versions(session)
        ]

    @staticmethod
    def _match(journey_id: int, definition: JourneyDefinition, cause: _Cause) -> _Admission | None:
        """The first trigger of the journey that this cause satisfies."""
        event = cause.event
        for index, trigger in enumerate(definition.triggers):
            if cause.relation_id is None and not trigger.may_start_without_relation():
                continue
            by_event = event is not None and trigger.admits(event.type, event.payload)
            if by_event or trigger.admits_change(cause.entered, cause.left):
                return _Admission(journey_id, definition.trigger_label(index))
        return None

    def _signals(self, session: Session, cause: _Cause) -> list[tuple[str, EventSignal]]:
        event = cause.event
        assert event is not None and event.id is not None
        if cause.relation_id is None:
            return []  # no relation: no trip of its to tell
        running = session.exec(
            select(Trip.id, Trip.journey_id, Trip.journey_version, Trip.event_id).where(
                col(Trip.relation_id) == cause.relation_id,
                col(Trip.status) == TripStatus.running,
            )
        ).all()
        signals = []
        for trip_id, journey_id, version, admitted_by in running:
            if admitted_by == event.id:
                continue  # the event that admitted a trip is not news to it
            definition = self._definition(session, journey_id, version)
            if event.type not in definition.listens_for():
                continue
            signal = event_signal(definition, event.id, event.type, event.payload)
            if signal.steps or signal.exits:
                signals.append((trip_id, signal))
        return signals

    def _done(self, data: DispatchInput) -> None:
        with session_scope(self._engine) as session:
            now = utcnow()
            if data.event_id is not None:
                event = session.get(Event, data.event_id)
                if event is not None:
                    event.dispatched_at = now
                    session.add(event)
                    if event.change_id is not None:
                        _mark_change(session, event.change_id, now)
            if data.change_id is not None:
                _mark_change(session, data.change_id, now)


def _mark_change(session: Session, change_id: int, now: Any) -> None:
    change = session.get(SegmentChange, change_id)
    if change is not None:
        change.dispatched_at = now
        session.add(change)


def event_signal(
    definition: JourneyDefinition, event_id: int, event_type: str, payload: dict[str, Any]
) -> EventSignal:
    """Which wait_for_event steps and goals of this definition the event satisfies."""
    steps = [
        step.id
        for step in definition.steps
        if isinstance(step, WaitForEventStep) and step.matches(event_type, payload)
    ]
    exits = any(goal.matches(event_type, payload) for goal in definition.exit_on)
    return EventSignal(event_id=event_id, type=event_type, steps=steps, exits=exits)


# How long a cause may stay undispatched before the trip-sync schedule starts it again.
REDISPATCH_AFTER = timedelta(minutes=1)
