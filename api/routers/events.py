"""Events: what relations did. Stored, then handed to Temporal, before the answer."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from activities.dispatch import start_dispatch
from api.deps import EngineDep, TaskQueueDep, TemporalDep
from api.schemas.events import (
    BatchItem,
    BatchResult,
    EventAccepted,
    EventBatch,
    EventCreate,
    EventPublic,
)
from api.security import allow
from store import events
from store.errors import Invalid
from store.keys import Scope
from store.models import utcnow

router = APIRouter(prefix="/events", tags=["events"])

# Dispatch starts in flight at once for a batch: more only queue in Temporal's frontend.
_STARTS_IN_FLIGHT = 16

_DURABLE = (
    "Answered only once the event is stored and its Dispatch workflow is started in "
    "Temporal: if the API stops right after, what the event triggers still happens. A 503 "
    "means Temporal could not be reached: the event is stored; send it again with the "
    "same idempotency key (or leave it to the trip-sync schedule, which dispatches it "
    "within minutes)."
)


@router.post(
    "",
    dependencies=[allow(Scope.app)],
    status_code=201,
    response_model=EventAccepted,
    responses={
        200: {
            "model": EventAccepted,
            "description": "The idempotency key was seen before: the first result",
        }
    },
    summary="Record an event of a relation",
    description="201 when stored; 200 when its idempotency key was seen before (the "
    "first result, nothing done again); 422 naming the field for an unknown relation "
    "(unless `relation.create`) or a bad payload. Without `relation`, the event is "
    "stored without one and admits only to journeys whose event trigger has "
    "`without_relation: true`. " + _DURABLE,
)
async def post_event(
    body: EventCreate,
    response: Response,
    engine: EngineDep,
    temporal: TemporalDep,
    task_queue: TaskQueueDep,
) -> EventAccepted:
    ingested = await run_in_threadpool(_ingest, engine, body, ("body",))
    assert ingested.event.id is not None
    await start_dispatch(temporal, task_queue, event_id=ingested.event.id)
    if ingested.repeated:
        response.status_code = 200
    return _accepted(ingested)


@router.post(
    "/batch",
    dependencies=[allow(Scope.app)],
    response_model=BatchResult,
    summary="Record many events",
    description="A result per event, in order: 201 stored, 200 repeated (idempotency "
    "key seen before), 422 refused with the field named (the others are still stored). "
    "A body that is not a list of well-formed events is refused as a whole. " + _DURABLE,
)
async def post_batch(
    body: EventBatch, engine: EngineDep, temporal: TemporalDep, task_queue: TaskQueueDep
) -> BatchResult:
    items: list[BatchItem] = []
    try:
        for index, event in enumerate(body.events):
            try:
                ingested = await run_in_threadpool(
                    _ingest, engine, event, ("body", "events", index)
                )
            except Invalid as error:
                problems = [
                    {"loc": list(p.loc), "msg": p.msg, "type": p.type} for p in error.problems
                ]
                items.append(BatchItem(index=index, status=422, error=problems))
                continue
            status = 200 if ingested.repeated else 201
            items.append(BatchItem(index=index, status=status, accepted=_accepted(ingested)))
    finally:
        # Also when a later event fails unexpectedly: those stored are dispatched now, not
        # a minute later by the trip-sync schedule.
        await _dispatch_all(temporal, task_queue, items)
    return BatchResult(results=items)


async def _dispatch_all(temporal: Client, task_queue: str, items: list[BatchItem]) -> None:
    gate = asyncio.Semaphore(_STARTS_IN_FLIGHT)

    async def start(event_id: int) -> None:
        async with gate:
            await start_dispatch(temporal, task_queue, event_id=event_id)

    await asyncio.gather(
        *(start(item.accepted.event.id) for item in items if item.accepted is not None)
    )


def _ingest(engine: Engine, body: EventCreate, loc: tuple[str | int, ...]) -> events.Ingested:
    ref = body.relation
    relation = None
    if ref is not None:
        fields = ref.fields.model_dump(exclude_unset=True) if ref.fields is not None else None
        relation = events.RelationRef(
            id=ref.id,
            external_id=ref.external_id,
            email=ref.email,
            create=ref.create,
            fields=fields,
        )
    new = events.NewEvent(
        type=body.type,
        relation=relation,
        payload=body.payload,
        occurred_at=body.occurred_at or utcnow(),
        idempotency_key=body.idempotency_key,
    )
    with Session(engine, expire_on_commit=False) as session:
        return events.ingest(session, new, now=utcnow(), loc=loc)


def _accepted(ingested: events.Ingested) -> EventAccepted:
    change = ingested.change
    return EventAccepted(
        event=EventPublic.model_validate(ingested.event),
        relation_created=ingested.event.relation_created,
        repeated=ingested.repeated,
        segments_entered=list(change.entered) if change is not None else [],
        segments_left=list(change.left) if change is not None else [],
    )
