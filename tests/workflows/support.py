"""Direct set-up for workflow tests: rows in the store and a started trip workflow.

The API tests go through enrollment; these start the workflow themselves so each test
controls the definition and timing precisely.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from activities.contracts import (
    JOURNEY_ID,
    JOURNEY_VERSION,
    RELATION_ID,
    STEP,
    TRIP_WORKFLOW,
    TripInput,
)
from domain.definition import JourneyDefinition
from store.db import session_scope
from store.models import Journey, JourneyVersion, Passage, Relation, Send, Template, Trip


def add_relation(engine: Engine, **fields: Any) -> int:
    with session_scope(engine) as session:
        relation = Relation(**fields)
        session.add(relation)
        session.flush()
        assert relation.id is not None
        return relation.id


def update_relation(engine: Engine, relation_id: int, **fields: Any) -> None:
    with session_scope(engine) as session:
        relation = session.get(Relation, relation_id)
        assert relation is not None
        for name, value in fields.items():
            setattr(relation, name, value)
        session.add(relation)


def add_template(
    engine: Engine, key: str, subject: str, html: str, text: str | None = None
) -> None:
    with session_scope(engine) as session:
        session.add(Template(key=key, name=key, subject=subject, html=html, text=text))


def add_journey(engine: Engine, definition: dict[str, Any]) -> tuple[int, JourneyDefinition]:
    parsed = JourneyDefinition.model_validate(definition)
    with session_scope(engine) as session:
        journey = Journey(
            name=parsed.name,
            status="active",
            definition=parsed.model_dump(mode="json", by_alias=True),
            active_version=1,
        )
        session.add(journey)
        session.flush()
        assert journey.id is not None
        session.add(
            JourneyVersion(
                journey_id=journey.id,
                version=1,
                definition=journey.definition,
                digest=parsed.digest(),
            )
        )
        return journey.id, parsed


async def start_trip(
    client: Client,
    engine: Engine,
    task_queue: str,
    journey: tuple[int, JourneyDefinition],
    relation_id: int,
    number: int = 1,
) -> WorkflowHandle[Any, Any]:
    journey_id, definition = journey
    trip_id = f"trip:{journey_id}:{relation_id}:{number}"
    with session_scope(engine) as session:
        session.add(
            Trip(
                id=trip_id,
                journey_id=journey_id,
                journey_version=1,
                relation_id=relation_id,
                number=number,
                current_step=definition.steps[0].id,
            )
        )
    return await client.start_workflow(
        TRIP_WORKFLOW,
        TripInput(
            trip_id=trip_id,
            journey_id=journey_id,
            journey_version=1,
            relation_id=relation_id,
            definition=definition,
        ),
        id=trip_id,
        task_queue=task_queue,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(JOURNEY_ID, str(journey_id)),
                SearchAttributePair(JOURNEY_VERSION, 1),
                SearchAttributePair(RELATION_ID, str(relation_id)),
                SearchAttributePair(STEP, definition.steps[0].id),
            ]
        ),
        static_summary=f"{definition.name} · relation {relation_id}",
    )


def path_of(engine: Engine, trip_id: str) -> list[Passage]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(Passage).where(Passage.trip_id == trip_id).order_by(col(Passage.seq))
        ).all()
        return list(rows)


def trip_row(engine: Engine, trip_id: str) -> Trip:
    with session_scope(engine) as session:
        trip = session.get(Trip, trip_id)
        assert trip is not None
        return trip


def sends_of(engine: Engine, trip_id: str) -> list[Send]:
    with session_scope(engine) as session:
        return list(session.exec(select(Send).where(Send.trip_id == trip_id)).all())
