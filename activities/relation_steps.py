"""The relation data steps' activities: update, look up, add, add-or-update, delete.

Each passage is one transaction: the queued path rows, the change, the passage's
outcome and the change's record in `step_effect` under (trip, step). A retry (or a
second attempt after a worker crash) finds the record and returns what the first did,
changing nothing more: an add or upsert never makes two relations for one passage.
After the commit, segment changes are handed to their Dispatch (so a segment trigger
follows from the write) and a deleted relation's other trips are cancelled in Temporal;
a retry does both again, which finds them done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts.relations import (
    ADD_RELATION,
    DELETE_RELATION,
    LOOKUP_RELATION,
    UPDATE_RELATION,
    UPSERT_RELATION,
    AddRelationInput,
    DeleteRelationInput,
    FieldInput,
    LookupRelationInput,
    RelationStepResult,
    UpdateRelationInput,
    UpsertRelationInput,
)
from activities.dispatch import start_dispatch
from activities.passages import write_passage, write_passages
from domain.relation_fields import Unfit, fit
from domain.statuses import Outcome, TripStatus
from store import effects, paths, relation_writes, relations
from store.db import session_scope
from store.facts import load_payload
from store.membership import lock_relation, reevaluate
from store.models import Relation, utcnow

_log = logging.getLogger("reisplan.activities")
RELATION_ERASED = "the relation no longer exists"


@dataclass
class Done:
    """What one passage did: the result for the workflow and what follows the commit."""

    outcome: Outcome
    result: RelationStepResult
    changes: list[int] = field(default_factory=list)  # segment changes to dispatch
    cancel: list[str] = field(default_factory=list)  # other trips to cancel in Temporal

    def record(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "result": self.result.model_dump(mode="json"),
            "changes": self.changes,
            "cancel": self.cancel,
        }

    @classmethod
    def recorded(cls, found: dict[str, Any]) -> Done:
        return cls(
            outcome=Outcome(found["outcome"]),
            result=RelationStepResult.model_validate(found["result"]),
            changes=list(found["changes"]),
            cancel=list(found["cancel"]),
        )


@dataclass
class Values:
    """A step's values resolved for one passage: field -> value to write, and the
    fields left out with why ("birth_date: not a date in the event")."""

    fit: dict[str, Any]
    skipped: list[str]


def resolve(values: list[FieldInput], payload: dict[str, Any] | None) -> Values:
    resolved = Values({}, [])
    for item in values:
        raw = item.value
        if item.event_key is not None:
            raw = (payload or {}).get(item.event_key)
            if raw is None or raw == "":
                resolved.skipped.append(f"{item.field}: not in the event")
                continue
        try:
            resolved.fit[item.field] = fit(item.field, raw)
        except Unfit as unfit:
            where = " in the event" if item.event_key is not None else ""
            resolved.skipped.append(f"{item.field}: not {unfit.kind}{where}")
    return resolved


def _words(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _listed(prefix: str, names: list[str], suffix: str = "") -> str:
    return f"{prefix}{', '.join(names)}{suffix}" if names else ""


class RelationStepActivities:
    def __init__(self, engine: Engine, client: Client, task_queue: str) -> None:
        self._engine = engine
        self._client = client
        self._task_queue = task_queue

    # --- the five steps --------------------------------------------------------------

    @activity.defn(name=UPDATE_RELATION)
    async def update_relation(self, data: UpdateRelationInput) -> RelationStepResult:
        return await self._run(data, UPDATE_RELATION, lambda s: self._update(s, data))

    @activity.defn(name=LOOKUP_RELATION)
    async def lookup_relation(self, data: LookupRelationInput) -> RelationStepResult:
        return await self._run(data, LOOKUP_RELATION, lambda s: self._lookup(s, data))

    @activity.defn(name=ADD_RELATION)
    async def add_relation(self, data: AddRelationInput) -> RelationStepResult:
        return await self._run(data, ADD_RELATION, lambda s: self._add(s, data))

    @activity.defn(name=UPSERT_RELATION)
    async def upsert_relation(self, data: UpsertRelationInput) -> RelationStepResult:
        return await self._run(data, UPSERT_RELATION, lambda s: self._upsert(s, data))

    @activity.defn(name=DELETE_RELATION)
    async def delete_relation(self, data: DeleteRelationInput) -> RelationStepResult:
        return await self._run(data, DELETE_RELATION, lambda s: self._delete(s, data))

    # --- one passage, once -----------------------------------------------------------

    async def _run(
        self, data: Any, kind: str, act: Callable[[Session], Done]
    ) -> RelationStepResult:
        done = await asyncio.to_thread(self._once, data, kind, act)
        if done is None:
            return RelationStepResult(trip_running=False)
        for change_id in done.changes:
            # Raises while Temporal refuses: the retry finds the record and starts it
            # then (a dispatch already started is not repeated).
            await start_dispatch(self._client, self._task_queue, change_id=change_id)
        for trip_id in done.cancel:
            await self._cancel(trip_id)
        return done.result

    def _once(self, data: Any, kind: str, act: Callable[[Session], Done]) -> Done | None:
        key = effects.trip_key(data.passage.trip_id, data.passage.step_id)
        for attempt in (1, 2):
            try:
                with session_scope(self._engine) as session:
                    if not write_passages(session, data.writes):
                        return None
                    earlier = effects.recorded(session, key)
                    if earlier is not None:
                        return Done.recorded(earlier)
                    if not paths.is_running(session, data.passage.trip_id):
                        return None  # cancelled before this attempt began: nothing done
                    done = act(session)
                    write_passage(session, data.passage, done.outcome, done.result.detail)
                    effects.record(
                        session,
                        key,
                        step_id=data.passage.step_id,
                        kind=kind,
                        result=done.record(),
                        trip_id=data.passage.trip_id,
                    )
                    return done
            except IntegrityError:
                # Another attempt of this passage committed first (its record has the
                # key): the next round returns what it did.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _cancel(self, trip_id: str) -> None:
        try:
            await self._client.get_workflow_handle(trip_id).cancel()
        except RPCError as error:
            # Ended already; or Temporal is away: the trip's row is closed either way,
            # so it sends nothing more, and a timer that fires finds nothing to do.
            if error.status != RPCStatusCode.NOT_FOUND:
                _log.warning("trip %s: cancelling after a delete failed: %s", trip_id, error)

    # --- what each step does, inside the transaction ---------------------------------

    def _segments(self, session: Session, relation_id: int, data: Any) -> list[int]:
        cause = f"step:{data.passage.trip_id}/{data.passage.step_id}"[:100]
        change = reevaluate(session, relation_id, cause=cause, now=utcnow())
        return [change.id] if change is not None and change.id is not None else []

    def _gone(self, session: Session, data: Any) -> Done:
        """The relation was erased meanwhile: like a send to it, the trip ends here."""
        paths.close_if_running(
            session,
            trip_id=data.passage.trip_id,
            status=TripStatus.completed,
            ended_at=activity.info().started_time,
        )
        result = RelationStepResult(detail=RELATION_ERASED, closed=True)
        return Done(Outcome.relation_erased, result)

    def _update(self, session: Session, data: UpdateRelationInput) -> Done:
        if not lock_relation(session, data.relation_id):
            return self._gone(session, data)
        relation = session.get(Relation, data.relation_id)
        assert relation is not None
        values = resolve(data.values, load_payload(session, data.event_id))
        written = relation_writes.write(session, relation, values.fit)
        changes = self._segments(session, data.relation_id, data) if written.changed else []
        detail = _words(
            _listed("set ", written.changed),
            _listed("", written.same, " already so"),
            *values.skipped,
            *written.refused,
        )
        outcome = Outcome.updated if written.changed else Outcome.unchanged
        return Done(outcome, RelationStepResult(way="next", detail=detail), changes)

    def _lookup(self, session: Session, data: LookupRelationInput) -> Done:
        criteria = resolve(data.match, load_payload(session, data.event_id))
        if criteria.skipped:
            detail = _words(*criteria.skipped, "not looked up")
            return Done(Outcome.not_found, RelationStepResult(way="not_found", detail=detail))
        found, count = relation_writes.find(session, criteria.fit)
        by = ", ".join(criteria.fit)
        if found is None:
            detail = f"no relation matches {by}"
            return Done(Outcome.not_found, RelationStepResult(way="not_found", detail=detail))
        relation_writes.become(session, data.passage.trip_id, found)
        detail = f"found by {by}"
        if count > 1:
            detail += f"; {count} matched, the oldest taken"
        result = RelationStepResult(way="found", relation_id=found, detail=detail)
        return Done(Outcome.found, result)

    def _add(self, session: Session, data: AddRelationInput) -> Done:
        values = resolve(data.values, load_payload(session, data.event_id))
        relation, written = relation_writes.create(session, values.fit)
        assert relation.id is not None
        changes = self._segments(session, relation.id, data)
        relation_writes.become(session, data.passage.trip_id, relation.id)
        given = [n for n in values.fit if n in written.changed or n in written.same]
        detail = _words(
            _listed("new relation with ", given) or "new relation",
            *values.skipped,
            *written.refused,
        )
        result = RelationStepResult(way="next", relation_id=relation.id, detail=detail)
        return Done(Outcome.created, result, changes)

    def _upsert(self, session: Session, data: UpsertRelationInput) -> Done:
        values = resolve(list(data.values), load_payload(session, data.event_id))
        unique_names = [v.field for v in data.values if v.unique]
        unique = {n: values.fit[n] for n in unique_names if values.fit.get(n) is not None}
        found: int | None = None
        count = 0
        if unique:
            relation_writes.lock_upsert(session, unique)
            found, count = relation_writes.find(session, unique)
        by = ", ".join(unique)
        # Erased since it was found (the upsert lock does not hold the API off): new.
        if found is not None and lock_relation(session, found):
            relation = session.get(Relation, found)
            assert relation is not None
            rest = {n: v for n, v in values.fit.items() if n not in unique}
            written = relation_writes.write(session, relation, rest)
            changes = self._segments(session, found, data) if written.changed else []
            relation_writes.become(session, data.passage.trip_id, found)
            detail = _words(
                f"existing relation by {by}"
                + (f" ({count} matched, the oldest taken)" if count > 1 else ""),
                _listed("set ", written.changed),
                _listed("", written.same, " already so"),
                *values.skipped,
                *written.refused,
            )
            outcome = Outcome.updated if written.changed else Outcome.unchanged
            result = RelationStepResult(way="existing", relation_id=found, detail=detail)
            return Done(outcome, result, changes)
        relation, written = relation_writes.create(session, values.fit)
        assert relation.id is not None
        changes = self._segments(session, relation.id, data)
        relation_writes.become(session, data.passage.trip_id, relation.id)
        given = [n for n in values.fit if n in written.changed or n in written.same]
        detail = _words(
            f"new relation (none by {by})" if unique else "new relation (no unique value)",
            _listed("with ", given),
            *values.skipped,
            *written.refused,
        )
        result = RelationStepResult(way="new", relation_id=relation.id, detail=detail)
        return Done(Outcome.created, result, changes)

    def _delete(self, session: Session, data: DeleteRelationInput) -> Done:
        if not lock_relation(session, data.relation_id):
            return self._gone(session, data)
        cancelled = relations.erase_rows(session, data.relation_id, keep_trip=data.passage.trip_id)
        paths.close_if_running(
            session,
            trip_id=data.passage.trip_id,
            status=TripStatus.completed,
            ended_at=activity.info().started_time,
        )
        detail = "relation deleted for good"
        if cancelled:
            trips = "trip" if len(cancelled) == 1 else "trips"
            detail += f"; {len(cancelled)} other {trips} of it cancelled"
        result = RelationStepResult(detail=detail, closed=True)
        return Done(Outcome.deleted, result, cancel=cancelled)
