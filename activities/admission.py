"""Admission: start a relation's trip through an active journey, under its re-entry rule.

The one way into a journey: the API's manual add (an enrollment) calls it now, and every
trigger (events, segments, schedules, selections) calls it too. The re-entry setting
is enforced twice: in our store (a unique trip number per journey and relation, which
outlives Temporal's retention) and by Temporal's workflow-id policies, so a duplicate
trigger can never start a second trip. Nothing is left half-written: a trip row whose
workflow surely did not start is removed again, and a trip whose journey was deactivated
while it was being started is cancelled again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import (
    JOURNEY_ID,
    JOURNEY_VERSION,
    RELATION_ID,
    STEP,
    TRIP_WORKFLOW,
    TripInput,
)
from domain.definition import JourneyDefinition, parse_frozen
from domain.statuses import JourneyStatus, TripStatus
from store import events, journey_exits, journeys, relations, trips
from store.errors import Conflict, NotFound
from store.models import Journey, Trip, utcnow

# Only `always` retries a taken number; a handful covers any realistic burst.
_NUMBER_ATTEMPTS = 20


class AdmissionConflict(Conflict):
    """The re-entry setting (or the journey's status) forbids this trip."""


def trip_id(journey_id: int, relation_id: int, number: int) -> str:
    return f"trip:{journey_id}:{relation_id}:{number}"


def anonymous_trip_id(journey_id: int, event_id: int) -> str:
    """A trip started by an event that names no known relation: one per journey and
    event (the id is the whole rule: a retried dispatch finds it)."""
    return f"trip:{journey_id}:event-{event_id}:1"


@dataclass(frozen=True)
class Cause:
    """Why a relation is admitted. `key` names the cause (`event:12`, `change:7`,
    `run:3`, `date:0:2027`): one trip per journey, relation and key, so a retried
    dispatch or fan-out, or an event delivered twice, finds the trip it already started.
    Manual adds have no key: each is a deliberate admission."""

    trigger: str | None = None
    event_id: int | None = None
    key: str | None = None
    # A recurring date admits once per relation per year whatever the re-entry setting:
    # its key (`date:{trigger}:{year}`) is the whole rule.
    yearly: bool = False
    # Admit only into this version (an admission run's): a run whose journey was
    # deactivated and activated again must not fill the new version.
    version: int | None = None
    # Begin at this step instead of the first (an import step's way out).
    start_at: str | None = None


MANUAL = Cause(trigger="manual")


async def admit(
    client: Client,
    engine: Engine,
    task_queue: str,
    journey_id: int,
    relation_id: int | None,
    cause: Cause = MANUAL,
    *,
    eager: bool = False,
) -> Trip:
    """Start relation `relation_id`'s next trip through journey `journey_id` (or, with
    relation_id None, the one trip of the cause's event, which names no known relation).

    Raises NotFound (journey or relation) or AdmissionConflict (journey not active,
    re-entry forbidden, or the same trip started concurrently). With a cause key that
    already admitted this relation, returns that trip (starting its workflow if a crash
    came between the row and the start). `eager`: the caller runs in a worker of the
    trips' task queue (a dispatch, an admission run), which may then be handed the
    trip's first workflow task with the start's answer, saving a round trip.
    """
    trip, name, definition, again = await asyncio.to_thread(
        _reserve, engine, journey_id, relation_id, cause
    )
    if again:
        if await _restart_if_unstarted(client, task_queue, trip, name, definition):
            # The workflow was missing and is started now: the journey may have been
            # deactivated since its row was written (its cancel found no workflow).
            await _withdraw_if_deactivated(client, engine, trip)
        return trip
    try:
        await _start(client, task_queue, trip, name, definition, eager=eager)
    except WorkflowAlreadyStartedError:
        # Temporal remembers this trip id (e.g. our store was reset within retention).
        await asyncio.to_thread(_forget, engine, trip.id)
        raise AdmissionConflict(
            f"trip {trip.id} already exists in Temporal: relation {relation_id} cannot "
            f"enter journey {journey_id} again"
        ) from None
    except BaseException:
        await asyncio.shield(_settle(client, engine, trip.id))
        raise
    await _withdraw_if_deactivated(client, engine, trip)
    return trip


async def _start(
    client: Client,
    task_queue: str,
    trip: Trip,
    name: str,
    definition: JourneyDefinition,
    *,
    eager: bool = False,
) -> None:
    admitted_by = f" · {trip.trigger}" if trip.trigger else ""
    event = f" · event {trip.event_id}" if trip.event_id is not None else ""
    first = trip.current_step or definition.steps[0].id
    attributes: list[SearchAttributePair[Any]] = [
        SearchAttributePair(JOURNEY_ID, str(trip.journey_id)),
        SearchAttributePair(JOURNEY_VERSION, trip.journey_version),
        SearchAttributePair(STEP, first),
    ]
    who = "no relation yet"
    if trip.relation_id is not None:
        attributes.append(SearchAttributePair(RELATION_ID, str(trip.relation_id)))
        who = f"relation {trip.relation_id}"
    await client.start_workflow(
        TRIP_WORKFLOW,
        TripInput(
            trip_id=trip.id,
            journey_id=trip.journey_id,
            journey_version=trip.journey_version,
            relation_id=trip.relation_id,
            definition=definition,
            trigger=trip.trigger,
            event_id=trip.event_id,
            start_at=trip.current_step if trip.current_step != definition.steps[0].id else None,
        ),
        id=trip.id,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=TypedSearchAttributes(attributes),
        static_summary=f"{name} · {who} · v{trip.journey_version}{admitted_by}{event}",
        static_details=describe_steps(definition),
        request_eager_start=eager,
    )


async def _restart_if_unstarted(
    client: Client, task_queue: str, trip: Trip, name: str, definition: JourneyDefinition
) -> bool:
    """The cause already admitted this relation. If its trip still runs, its workflow may
    be missing (the admitting process died between the row and the start): start it, and
    say so; Temporal refusing a duplicate id means it was there all along."""
    if trip.status != TripStatus.running:
        return False
    try:
        await _start(client, task_queue, trip, name, definition)
    except WorkflowAlreadyStartedError:
        return False
    return True


def _reserve(
    engine: Engine, journey_id: int, relation_id: int | None, cause: Cause
) -> tuple[Trip, str, JourneyDefinition, bool]:
    """Insert the trip row (status running, at the first step) under the re-entry rule;
    or find the trip this cause already admitted (the last value is then True)."""
    for _ in range(_NUMBER_ATTEMPTS):
        with Session(engine, expire_on_commit=False) as session:
            journey = journeys.get(session, journey_id)
            earlier = _admitted_by(session, journey_id, relation_id, cause)
            if earlier is None and relation_id is None and cause.event_id is not None:
                earlier = session.get(Trip, anonymous_trip_id(journey_id, cause.event_id))
            if earlier is not None:
                frozen = journeys.version(session, journey_id, earlier.journey_version)
                return earlier, journey.name, parse_frozen(frozen.definition), True
            if journey.status != JourneyStatus.active or journey.active_version is None:
                raise AdmissionConflict(f"journey {journey_id} is not active")
            if cause.version is not None and cause.version != journey.active_version:
                raise AdmissionConflict(
                    f"journey {journey_id} runs version {journey.active_version} now, "
                    f"not {cause.version}"
                )
            frozen = journeys.version(session, journey_id, journey.active_version)
            definition = parse_frozen(frozen.definition)
            if cause.start_at is not None and not definition.has_step(cause.start_at):
                raise AdmissionConflict(
                    f"journey {journey_id} version {frozen.version} has no step '{cause.start_at}'"
                )
            if relation_id is None:
                return _reserve_anonymous(session, journey, frozen.version, definition, cause)
            if not relations.exists(session, relation_id):
                raise NotFound("relation", relation_id)
            if journey_exits.has_left(session, journey_id, relation_id):
                # Whatever the trigger and the re-entry setting: it unsubscribed from
                # this journey (its unsubscribe step), so it is never admitted again.
                raise AdmissionConflict(
                    f"relation {relation_id} unsubscribed from journey {journey_id}"
                )
            highest, running = trips.numbers_taken(session, journey_id, relation_id)
            if not cause.yearly:
                _check_reentry(definition, journey_id, relation_id, highest, running)
            number = highest + 1
            trip = Trip(
                id=trip_id(journey_id, relation_id, number),
                journey_id=journey_id,
                journey_version=frozen.version,
                relation_id=relation_id,
                admitted_relation_id=relation_id,
                number=number,
                status=TripStatus.running,
                current_step=cause.start_at or definition.steps[0].id,
                started_at=utcnow(),
                trigger=cause.trigger,
                event_id=cause.event_id,
                admission_key=cause.key,
                events_after=cause.event_id
                if cause.event_id is not None
                else events.highest_id(session, relation_id),
            )
            session.add(trip)
            try:
                session.commit()
            except IntegrityError:
                # Another admission took this number (or this cause's key) between our
                # read and our write: the loop finds the latter as `earlier`.
                session.rollback()
                if definition.reentry == "always" or cause.key is not None:
                    continue
                raise AdmissionConflict(
                    f"relation {relation_id} was admitted to journey {journey_id} "
                    "at the same moment"
                ) from None
            return trip, journey.name, definition, False
    raise AdmissionConflict(f"could not number a new trip for relation {relation_id}")


def _reserve_anonymous(
    session: Session, journey: Journey, version: int, definition: JourneyDefinition, cause: Cause
) -> tuple[Trip, str, JourneyDefinition, bool]:
    """The one trip of an event that names no known relation, in a journey whose
    matching trigger starts trips without one. No re-entry rule: there is nobody yet
    to count trips of; the event is the cause, and its id the trip's."""
    if cause.event_id is None:
        raise AdmissionConflict("a trip without a relation is started by an event only")
    assert journey.id is not None
    trip = Trip(
        id=anonymous_trip_id(journey.id, cause.event_id),
        journey_id=journey.id,
        journey_version=version,
        relation_id=None,
        admitted_relation_id=None,
        number=1,
        status=TripStatus.running,
        current_step=cause.start_at or definition.steps[0].id,
        started_at=utcnow(),
        trigger=cause.trigger,
        event_id=cause.event_id,
        admission_key=cause.key,
        events_after=cause.event_id,
    )
    earlier = session.get(Trip, trip.id)
    if earlier is not None:
        return earlier, journey.name, definition, True
    session.add(trip)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        found = session.get(Trip, trip.id)
        if found is None:
            raise
        return found, journey.name, definition, True
    return trip, journey.name, definition, False


def _admitted_by(
    session: Session, journey_id: int, relation_id: int | None, cause: Cause
) -> Trip | None:
    if cause.key is None or relation_id is None:
        return None
    return session.exec(
        select(Trip).where(
            col(Trip.journey_id) == journey_id,
            col(Trip.admitted_relation_id) == relation_id,
            col(Trip.admission_key) == cause.key,
        )
    ).first()


def _check_reentry(
    definition: JourneyDefinition, journey_id: int, relation_id: int, highest: int, running: int
) -> None:
    if definition.reentry == "never" and highest > 0:
        raise AdmissionConflict(
            f"relation {relation_id} already made a trip through journey {journey_id} "
            "and its re-entry setting is 'never'"
        )
    if definition.reentry == "after_exit" and running > 0:
        raise AdmissionConflict(
            f"relation {relation_id} is still on a trip through journey {journey_id} "
            "and its re-entry setting is 'after_exit'"
        )


def _forget(engine: Engine, trip_id: str) -> None:
    with Session(engine) as session:
        trips.delete_unstarted(session, trip_id)


async def _settle(client: Client, engine: Engine, trip_id: str) -> None:
    """After an unclear start failure: keep the row only if Temporal confirms the workflow.

    The row is the authority, not the workflow: every activity of a trip checks its row,
    so a workflow that did start without one records nothing, sends nothing and ends
    (a harmless ghost). A row without a workflow, on the other hand, would show a trip
    as running for ever and block re-entry and template deletion. So when Temporal
    cannot be asked (the usual case: it is down) the row goes; the caller gets the
    start error (503) either way and may simply try again.
    """
    try:
        await client.get_workflow_handle(trip_id).describe()
    except Exception:
        await asyncio.to_thread(_forget, engine, trip_id)


async def _withdraw_if_deactivated(client: Client, engine: Engine, trip: Trip) -> None:
    """Cancel a trip whose journey stopped admitting relations while it was being started.

    `_reserve` saw the journey active, but a deactivation may land before the workflow
    exists: it counts our row as running, yet a `cancel` batch selects workflows in
    Temporal, where ours is not yet, and a `drain` would let a trip in after entry closed.
    Either way no trip may start once the journey is inactive, so we look again now
    that the workflow exists (a deactivation from here on finds it) and, if the journey
    is no longer active on the version we started, cancel the trip, close its row and
    refuse the admission. If Temporal refuses the cancellation, the error (503) says so
    and `deactivate?mode=cancel` can be repeated to stop the trip.
    """
    if await asyncio.to_thread(_still_admits, engine, trip):
        return
    try:
        await client.get_workflow_handle(trip.id).cancel()
    except RPCError as error:
        # Not found: the workflow already ended (a batch cancelled it, or it was short).
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    await asyncio.to_thread(_close_withdrawn, engine, trip.id)
    raise AdmissionConflict(
        f"journey {trip.journey_id} was deactivated while relation {trip.relation_id} "
        f"was being admitted: trip {trip.id} was cancelled"
    )


def _still_admits(engine: Engine, trip: Trip) -> bool:
    with Session(engine) as session:
        journey = journeys.get(session, trip.journey_id)
        return (
            journey.status == JourneyStatus.active
            and journey.active_version == trip.journey_version
        )


def _close_withdrawn(engine: Engine, trip_id: str) -> None:
    with Session(engine) as session:
        trips.close_cancelled(session, trip_id, ended_at=utcnow())


def describe_steps(definition: JourneyDefinition) -> str:
    """Markdown for the Temporal Web UI: the steps an operator can expect this trip to take."""
    lines = [f"**{definition.name}** (re-entry: {definition.reentry})", ""]
    lines += [f"- admits on {t.describe()}" for t in definition.triggers]
    lines += [f"- {goal.describe()}" for goal in definition.exit_on]
    lines.append("")
    for number, step in enumerate(definition.steps, start=1):
        label = f" {step.name}" if step.name else ""
        lines.append(f"{number}. `{step.id}`{label}: {step.describe()}")
    return "\n".join(lines)
