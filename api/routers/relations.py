from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.service import RPCError

from api.deps import EngineDep, IdPath, Limit, Offset, SessionDep, TaskQueueDep, TemporalDep
from api.dispatching import dispatch_changes
from api.schemas.events import EventPublic, EventsPublic
from api.schemas.relations import RelationCreate, RelationPublic, RelationsPublic, RelationUpdate
from api.schemas.trips import TripsPublic, TripSummary
from api.security import allow
from store import events, relations, trips
from store.errors import NotFound
from store.keys import Scope

router = APIRouter(prefix="/relations", tags=["relations"])
_log = logging.getLogger("reisplan.api")


@router.post("", dependencies=[allow(Scope.app)], status_code=201, response_model=RelationPublic)
async def create_relation(
    body: RelationCreate, engine: EngineDep, temporal: TemporalDep, task_queue: TaskQueueDep
) -> RelationPublic:
    relation = await run_in_threadpool(_create, engine, body)
    assert relation.id is not None
    await dispatch_changes(engine, temporal, task_queue, relation.id)
    return relation


def _create(engine: Engine, body: RelationCreate) -> RelationPublic:
    with Session(engine, expire_on_commit=False) as session:
        return RelationPublic.model_validate(relations.create(session, body.model_dump()))


@router.get("", dependencies=[allow(Scope.support)], response_model=RelationsPublic)
def list_relations(
    session: SessionDep,
    email: Annotated[str | None, Query(description="Only relations with this address")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> RelationsPublic:
    rows, count = relations.list_page(session, email=email, limit=limit, offset=offset)
    return RelationsPublic(data=[RelationPublic.model_validate(r) for r in rows], count=count)


@router.get("/{relation_id}", dependencies=[allow(Scope.support)], response_model=RelationPublic)
def read_relation(relation_id: IdPath, session: SessionDep) -> RelationPublic:
    return RelationPublic.model_validate(relations.get(session, relation_id))


@router.patch(
    "/{relation_id}",
    dependencies=[allow(Scope.app)],
    response_model=RelationPublic,
    description="Segments are re-evaluated in the same transaction: a segment_entry or "
    "segment_shift trigger fires at this change.",
)
async def update_relation(
    relation_id: IdPath,
    body: RelationUpdate,
    engine: EngineDep,
    temporal: TemporalDep,
    task_queue: TaskQueueDep,
) -> RelationPublic:
    updated = await run_in_threadpool(_update, engine, relation_id, body)
    await dispatch_changes(engine, temporal, task_queue, relation_id)
    return updated


def _update(engine: Engine, relation_id: int, body: RelationUpdate) -> RelationPublic:
    changes = body.model_dump(exclude_unset=True)
    with Session(engine, expire_on_commit=False) as session:
        return RelationPublic.model_validate(relations.update(session, relation_id, changes))


@router.get(
    "/{relation_id}/events",
    dependencies=[allow(Scope.support)],
    response_model=EventsPublic,
    description="The relation's events, newest first.",
)
def relation_events(
    relation_id: IdPath, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> EventsPublic:
    rows, count = events.of_relation(session, relation_id, limit=limit, offset=offset)
    return EventsPublic(data=[EventPublic.model_validate(e) for e in rows], count=count)


@router.delete(
    "/{relation_id}",
    dependencies=[allow(Scope.admin)],
    status_code=204,
    response_class=Response,
    summary="Erase a relation",
    description="Deletes the person's data and group memberships for good and cancels "
    "their running trips (their path ends `relation_erased`). The trips stay (for "
    "statistics) holding only the former relation id; paths and Temporal histories "
    "never held the person's values.",
)
async def erase_relation(relation_id: IdPath, engine: EngineDep, temporal: TemporalDep) -> None:
    running = await run_in_threadpool(_erase, engine, relation_id)
    for trip_id in running:
        try:
            await temporal.get_workflow_handle(trip_id).cancel()
        except RPCError as error:
            # Erased either way: the trip's row is closed and its next send refuses.
            # Its timer may still fire, on ids alone, and find nothing to do.
            _log.warning("trip %s: cancelling after an erase failed: %s", trip_id, error.message)


def _erase(engine: Engine, relation_id: int) -> list[str]:
    with Session(engine, expire_on_commit=False) as session:
        return relations.erase(session, relation_id)


@router.get(
    "/{relation_id}/trips",
    dependencies=[allow(Scope.support)],
    response_model=TripsPublic,
    description="Every trip of this relation, newest first; also after the relation was erased.",
)
def relation_trips(
    relation_id: IdPath, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> TripsPublic:
    rows, count = trips.of_relation(session, relation_id, limit=limit, offset=offset)
    if count == 0 and not relations.exists(session, relation_id):
        raise NotFound("relation", relation_id)
    return TripsPublic(data=[TripSummary.model_validate(t) for t in rows], count=count)
