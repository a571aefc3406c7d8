"""The group steps' activities: add_to_group, remove_from_group, a trip's passage of a
sync_group step, and the sync itself, which a selection run does once when it has
admitted everyone (activities/selections.finish_run).

A trip's step is one transaction: its queued path rows, the membership change, the
relation's segments re-evaluated, the passage and the step's effect record
(store.effects, keyed by trip and step). A retry that finds the record changes nothing
more and only starts the Dispatch of the segment change again (a Dispatch that was
started is not repeated). A sync goes in batches of SYNC_BATCH relations, each its own
transaction with its progress under the run's key, so a retry after a crash goes on
where the last batch ended and the counts stay exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client

from activities.admission_runs import FINISHED, is_selection
from activities.contracts import PassageKey, PassageWrite
from activities.contracts.groups import (
    ADD_TO_GROUP,
    REMOVE_FROM_GROUP,
    SYNC_GROUP_PASSAGE,
    AddToGroupInput,
    GroupStepResult,
    RemoveFromGroupInput,
    SyncGroupPassageInput,
)
from activities.contracts.selections import SyncedGroup
from activities.dispatch import start_dispatch
from activities.passages import write_passage, write_passages
from domain.definition import parse_frozen
from domain.statuses import Outcome, TripStatus
from domain.steps.groups import SyncGroupStep, render_subgroup
from store import effects, groups, journeys, paths
from store.db import session_scope
from store.locks import lock
from store.membership import lock_relation, reevaluate
from store.models import AdmissionRun, Event, SegmentChange, StepEffect, Trip, utcnow

RELATION_ERASED = "the relation no longer exists"
# Relations per sync transaction: each has its segments re-evaluated in it.
SYNC_BATCH = 200
# Dispatches started at once after a sync batch.
DISPATCH_CONCURRENCY = 16


@dataclass(frozen=True)
class _Done:
    outcome: Outcome
    detail: str
    change_id: int | None = None


class GroupStepActivities:
    def __init__(self, engine: Engine, client: Client, task_queue: str) -> None:
        self._engine = engine
        self._client = client
        self._task_queue = task_queue

    @activity.defn(name=ADD_TO_GROUP)
    async def add_to_group(self, data: AddToGroupInput) -> GroupStepResult:
        return await self._step(
            data.passage,
            data.writes,
            data.ends_trip,
            data.relation_id,
            lambda session: _add(session, data),
        )

    @activity.defn(name=REMOVE_FROM_GROUP)
    async def remove_from_group(self, data: RemoveFromGroupInput) -> GroupStepResult:
        return await self._step(
            data.passage,
            data.writes,
            data.ends_trip,
            data.relation_id,
            lambda session: _remove(session, data),
        )

    @activity.defn(name=SYNC_GROUP_PASSAGE)
    async def sync_group_passage(self, data: SyncGroupPassageInput) -> GroupStepResult:
        return await self._step(
            data.passage,
            data.writes,
            data.ends_trip,
            None,
            lambda session: _passing_sync(session, data),
        )

    async def _step(
        self,
        passage: PassageKey,
        writes: list[PassageWrite],
        ends_trip: bool,
        relation_id: int | None,
        change: Callable[[Session], _Done],
    ) -> GroupStepResult:
        ended_at = activity.info().started_time
        result, change_id = await asyncio.to_thread(
            self._apply, passage, writes, ends_trip, relation_id, change, ended_at
        )
        if change_id is not None:
            # Raises while Temporal refuses; the retry finds the effect recorded and
            # only starts this dispatch.
            await start_dispatch(self._client, self._task_queue, change_id=change_id)
        return result

    def _apply(
        self,
        passage: PassageKey,
        writes: list[PassageWrite],
        ends_trip: bool,
        relation_id: int | None,
        change: Callable[[Session], _Done],
        ended_at: datetime,
    ) -> tuple[GroupStepResult, int | None]:
        with session_scope(self._engine) as session:
            if not write_passages(session, writes):
                return GroupStepResult(trip_running=False), None
            # The relation's row first: two attempts at once do this one after the other.
            exists = relation_id is None or lock_relation(session, relation_id)
            key = effects.trip_key(passage.trip_id, passage.step_id)
            earlier = effects.recorded(session, key)
            if earlier is not None:
                return _as_result(earlier), _undispatched(session, earlier.get("change_id"))
            if not paths.is_running(session, passage.trip_id):
                # Cancelled before this attempt began: it changes nothing.
                return GroupStepResult(trip_running=False), None
            done = change(session) if exists else _Done(Outcome.relation_erased, RELATION_ERASED)
            write_passage(session, passage, done.outcome, done.detail)
            erased = done.outcome == Outcome.relation_erased
            closed = ends_trip or erased
            recorded = {
                "outcome": done.outcome.value,
                "detail": done.detail,
                "change_id": done.change_id,
                "closed": closed,
            }
            effects.record(
                session,
                key,
                step_id=passage.step_id,
                kind=passage.step_type,
                result=recorded,
                trip_id=passage.trip_id,
            )
            if closed:
                # Temporal's clock, as for every other time in the path.
                paths.close_if_running(
                    session, trip_id=passage.trip_id, status=TripStatus.completed, ended_at=ended_at
                )
            return _as_result(recorded), done.change_id


def _as_result(recorded: dict[str, Any]) -> GroupStepResult:
    return GroupStepResult(
        detail=str(recorded.get("detail", "")),
        relation_exists=recorded.get("outcome") != Outcome.relation_erased,
        closed=bool(recorded.get("closed", False)),
    )


def _undispatched(session: Session, change_id: Any) -> int | None:
    if not isinstance(change_id, int):
        return None
    change = session.get(SegmentChange, change_id)
    return change_id if change is not None and change.dispatched_at is None else None


def _cause(passage: PassageKey) -> str:
    return f"group-step:{passage.trip_id}/{passage.step_id}"[:100]


def _segment_words(change: SegmentChange | None) -> str:
    if change is None:
        return ""
    words = []
    if change.left:
        words.append("left segment " + ", ".join(f"`{k}`" for k in change.left))
    if change.entered:
        words.append("entered segment " + ", ".join(f"`{k}`" for k in change.entered))
    return "".join(f"; {w}" for w in words)


def _add(session: Session, data: AddToGroupInput) -> _Done:
    group = groups.find(session, data.group)
    if group is None or group.id is None:
        return _Done(Outcome.unchanged, f"group `{data.group}` no longer exists")
    target, made, note = group, False, ""
    if data.subgroup:
        # The passage's day, not the attempt's: a retry tomorrow makes the same name.
        today = data.passage.entered_at.astimezone(ZoneInfo(data.zone)).date()
        key = render_subgroup(data.subgroup, today, _payload(session, data.event_id))
        if key is None:
            note = " (the subgroup's name came out empty)"
        else:
            target, made = groups.ensure_subgroup(session, group, key)
            if made:
                note = f" (a new subgroup of `{group.key}`)"
    assert target.id is not None
    if not groups.join(session, target.id, data.relation_id):
        return _Done(Outcome.unchanged, f"already in group `{target.key}`{note}")
    change = reevaluate(session, data.relation_id, cause=_cause(data.passage), now=utcnow())
    detail = f"added to group `{target.key}`{note}{_segment_words(change)}"
    return _Done(Outcome.grouped, detail, change.id if change is not None else None)


def _payload(session: Session, event_id: int | None) -> dict[str, Any]:
    event = session.get(Event, event_id) if event_id is not None else None
    return dict(event.payload) if event is not None else {}


def _remove(session: Session, data: RemoveFromGroupInput) -> _Done:
    group = groups.find(session, data.group)
    if group is None or group.id is None:
        return _Done(Outcome.unchanged, f"group `{data.group}` no longer exists")
    if not groups.leave(session, group.id, data.relation_id):
        return _Done(Outcome.unchanged, f"not in group `{group.key}`")
    change = reevaluate(session, data.relation_id, cause=_cause(data.passage), now=utcnow())
    detail = f"removed from group `{group.key}`{_segment_words(change)}"
    return _Done(Outcome.grouped, detail, change.id if change is not None else None)


def _passing_sync(session: Session, data: SyncGroupPassageInput) -> _Done:
    run = run_of_trip(session, data.passage.trip_id)
    if run is None:
        return _Done(Outcome.unchanged, "no run: nothing to sync")
    return _Done(Outcome.grouped, f"group `{data.group}` made equal to run {run.id}'s selection")


def run_of_trip(session: Session, trip_id: str) -> AdmissionRun | None:
    """The selection run that admitted the trip, if one did (its admission key is the
    run's own: selection runs do not share keys)."""
    trip = session.get(Trip, trip_id)
    if trip is None or trip.admission_key is None:
        return None
    run = session.exec(
        select(AdmissionRun).where(
            col(AdmissionRun.journey_id) == trip.journey_id,
            col(AdmissionRun.admission_key) == trip.admission_key,
        )
    ).first()
    return run if run is not None and is_selection(session, run) else None


# --- the sync of a run's selection -----------------------------------------------------


async def sync_run_groups(
    engine: Engine, client: Client, task_queue: str, run_id: int
) -> tuple[list[SyncedGroup], str | None]:
    """Make the group of every sync_group step of the run's journey version equal to
    the run's selection, once per run (what was synced, or why nothing was)."""
    steps, skipped = await asyncio.to_thread(_sync_steps, engine, run_id)
    synced = []
    for step in steps:
        while True:
            result, changes, done = await asyncio.to_thread(
                _sync_batch, engine, run_id, step.id, step.group
            )
            await _dispatch_all(client, task_queue, changes)
            if activity.in_activity():
                activity.heartbeat(step.id, result.get("added"), result.get("removed"))
            if done:
                break
        synced.append(
            SyncedGroup(
                step_id=step.id,
                group=step.group,
                added=int(result.get("added", 0)),
                removed=int(result.get("removed", 0)),
            )
        )
    return synced, skipped


def _sync_steps(engine: Engine, run_id: int) -> tuple[list[SyncGroupStep], str | None]:
    with session_scope(engine) as session:
        run = session.get(AdmissionRun, run_id)
        if run is None:
            return [], f"run {run_id} no longer exists"
        if run.status != FINISHED:
            # Stopped (the journey was deactivated) before everyone was selected: a
            # partial selection would empty the group of whoever was not reached.
            return [], f"run {run_id} is {run.status}: its selection is incomplete"
        if not is_selection(session, run):
            return [], None
        frozen = journeys.version(session, run.journey_id, run.journey_version)
        steps = parse_frozen(frozen.definition).steps
        return [s for s in steps if isinstance(s, SyncGroupStep)], None


def _sync_batch(
    engine: Engine, run_id: int, step_id: str, group_key: str
) -> tuple[dict[str, Any], list[int], bool]:
    """One batch of the sync: (the progress so far, segment changes to dispatch, done)."""
    key = effects.run_key(run_id, step_id)
    with session_scope(engine) as session:
        # One sync of a group at a time (also two attempts of one finish_run).
        lock(session, f"sync_group:{group_key}")
        effect = session.get(StepEffect, key)
        so_far: dict[str, Any] = dict(effect.result) if effect is not None else {}
        if so_far.get("done"):
            return so_far, [], True
        group = groups.find(session, group_key)
        joined: list[int] = []
        left: list[int] = []
        changes: list[int] = []
        equal = True
        if group is not None and group.id is not None:
            joined, left, equal = _one_batch(session, group.id, run_id)
            now = utcnow()
            cause = f"sync_group:{run_id}/{step_id}"[:100]
            for relation_id in sorted({*joined, *left}):
                change = reevaluate(session, relation_id, cause=cause, now=now)
                if change is not None and change.id is not None:
                    changes.append(change.id)
        result = {
            "group": group_key,
            "added": int(so_far.get("added", 0)) + len(joined),
            "removed": int(so_far.get("removed", 0)) + len(left),
            "done": equal,
        }
        if group is None:
            result["missing"] = True
        if effect is None:
            effects.record(session, key, step_id=step_id, kind="sync_group", result=result)
        else:
            effect.result = result
            session.add(effect)
        return result, changes, bool(result["done"])


def _one_batch(session: Session, group_id: int, run_id: int) -> tuple[list[int], list[int], bool]:
    """(relations that joined, that left, whether the group equalled the selection)."""
    # The relations' rows first, in id order: a trip's group step on one of them waits
    # for this batch (or this batch for it) instead of the two deadlocking. Read again
    # once they are locked, and only those are changed: a step may have moved one
    # meanwhile (the next batch sees what remains).
    joining, leaving = groups.differences(session, group_id, run_id, SYNC_BATCH)
    locked = {*joining, *leaving}
    if not locked:
        return [], [], True
    for relation_id in sorted(locked):
        lock_relation(session, relation_id)
    joining, leaving = groups.differences(session, group_id, run_id, SYNC_BATCH)
    joined = [i for i in joining if i in locked]
    left = [i for i in leaving if i in locked]
    groups.apply_sync(session, group_id, joined, left)
    return joined, left, False


async def _dispatch_all(client: Client, task_queue: str, change_ids: list[int]) -> None:
    gate = asyncio.Semaphore(DISPATCH_CONCURRENCY)

    async def one(change_id: int) -> None:
        async with gate:
            await start_dispatch(client, task_queue, change_id=change_id)

    await asyncio.gather(*(one(i) for i in change_ids))
