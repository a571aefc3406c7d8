"""The relation data steps' activities on SQLite and PostgreSQL: the change in the store,
the way out, the path row (field names, never values) and a retried attempt that
changes nothing more."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.contracts import PassageKey
from activities.contracts.relations import (
    AddRelationInput,
    DeleteRelationInput,
    FieldInput,
    LookupRelationInput,
    UpdateRelationInput,
    UpsertRelationInput,
)
from activities.dispatch import dispatch_id
from activities.relation_steps import RelationStepActivities, resolve
from store.db import session_scope
from store.models import (
    Event,
    Journey,
    Relation,
    Segment,
    SegmentChange,
    SegmentMember,
    StepEffect,
    Trip,
)
from tests.activities.data import ENTERED, path, trip

QUEUE = "nobody-polls-this-queue"


def _journey(engine: Engine) -> int:
    with session_scope(engine) as session:
        journey = Journey(name="CRM", status="active", definition={}, active_version=1)
        session.add(journey)
        session.flush()
        assert journey.id is not None
        return journey.id


def _relation(engine: Engine, **fields: Any) -> int:
    with session_scope(engine) as session:
        relation = Relation(**fields)
        session.add(relation)
        session.flush()
        assert relation.id is not None
        return relation.id


def _trip(engine: Engine, journey_id: int, relation_id: int | None, **payload: Any) -> Trip:
    """A running trip; with a payload, admitted by an event (without a relation when
    relation_id is None, as a form post is)."""
    with session_scope(engine) as session:
        event_id = None
        if payload:
            event = Event(type="form", payload=payload, occurred_at=ENTERED, relation_id=None)
            session.add(event)
            session.flush()
            event_id = event.id
        who = relation_id if relation_id is not None else f"event-{event_id}"
        row = Trip(
            id=f"trip:{journey_id}:{who}:1",
            journey_id=journey_id,
            journey_version=1,
            relation_id=relation_id,
            admitted_relation_id=relation_id,
            number=1,
            event_id=event_id,
            current_step="step",
        )
        session.add(row)
        return row


def _passage(row: Trip, step_type: str, step_id: str = "step") -> PassageKey:
    return PassageKey(
        trip_id=row.id, seq=1, step_id=step_id, step_type=step_type, entered_at=ENTERED
    )


def _values(*items: dict[str, Any]) -> list[FieldInput]:
    return [FieldInput.model_validate(item) for item in items]


def _get(engine: Engine, relation_id: int) -> Relation | None:
    with session_scope(engine) as session:
        return session.get(Relation, relation_id)


def _count(engine: Engine, model: Any) -> int:
    with session_scope(engine) as session:
        return len(session.exec(select(model)).all())


async def _twice(method: Any, data: Any) -> Any:
    """The activity, then its retry with the same input (the first answer was lost)."""
    first = await ActivityEnvironment().run(method, data)
    again = await ActivityEnvironment().run(method, data)
    assert again == first
    return first


async def test_update_relation_writes_fields_re_evaluates_segments_once_and_names_fields_only(
    any_engine: Engine, time_env: WorkflowEnvironment
) -> None:
    engine = any_engine
    with session_scope(engine) as session:
        session.add(
            Segment(
                key="utrecht", name="U", condition={"field": "city", "op": "eq", "value": "Utrecht"}
            )
        )
    journey_id = _journey(engine)
    anna = _relation(engine, email="anna@example.org", first_name="Anna")
    row = _trip(engine, journey_id, anna, city="Utrecht", born="not a date", phone=612345678)
    steps = RelationStepActivities(engine, time_env.client, QUEUE)
    data = UpdateRelationInput(
        passage=_passage(row, "update_relation"),
        relation_id=anna,
        event_id=row.event_id,
        values=_values(
            {"field": "city", "from": "event.city"},
            {"field": "phone", "from": "event.phone"},
            {"field": "first_name", "value": "Anna"},
            {"field": "birth_date", "from": "event.born"},
            {"field": "locale", "from": "event.missing"},
        ),
    )

    result = await _twice(steps.update_relation, data)

    assert (result.way, result.relation_id) == ("next", None)
    relation = _get(engine, anna)
    assert relation is not None
    assert (relation.custom, relation.phone, relation.birth_date) == (
        {"city": "Utrecht"},
        "612345678",
        None,
    )
    (passage,) = path(engine, row.id)
    assert (passage.outcome, passage.detail) == (
        "updated",
        "set city, phone; first_name already so; birth_date: not a date (YYYY-MM-DD) in "
        "the event; locale: not in the event",
    )
    assert "Utrecht" not in passage.detail and "612" not in passage.detail
    with session_scope(engine) as session:
        (change,) = session.exec(select(SegmentChange)).all()
        members = session.exec(select(SegmentMember)).all()
    assert change.entered == ["utrecht"] and [m.relation_id for m in members] == [anna]
    # Its dispatch was started, so a segment_entry trigger follows from the write.
    handle = time_env.client.get_workflow_handle(dispatch_id(change_id=change.id))
    assert (await handle.describe()).id == dispatch_id(change_id=change.id)

    # The same values again, on a later trip: nothing to change.
    later = _trip(engine, _journey(engine), anna, city="Utrecht")
    same = UpdateRelationInput(
        passage=_passage(later, "update_relation"),
        relation_id=anna,
        event_id=later.event_id,
        values=_values({"field": "city", "from": "event.city"}),
    )
    await ActivityEnvironment().run(steps.update_relation, same)
    (unchanged,) = path(engine, later.id)
    assert (unchanged.outcome, unchanged.detail) == ("unchanged", "city already so")


async def test_lookup_relation_finds_the_oldest_match_and_the_trip_becomes_it(
    any_engine: Engine, time_env: WorkflowEnvironment
) -> None:
    engine = any_engine
    journey_id = _journey(engine)
    first = _relation(engine, email="Piet@Example.org", custom={"club": "AJAX", "no": 7})
    _relation(engine, email="piet@example.org", custom={"club": "ajax", "no": "7"})
    _relation(engine, email="piet@example.org", custom={"club": "psv", "no": 7})
    steps = RelationStepActivities(engine, time_env.client, QUEUE)
    match = _values(
        {"field": "email", "from": "event.email"},
        {"field": "club", "from": "event.club"},
        {"field": "no", "value": 7},
    )
    form = _trip(engine, journey_id, None, email="PIET@example.org", club="Ajax")
    found = await _twice(
        steps.lookup_relation,
        LookupRelationInput(
            passage=_passage(form, "lookup_relation"), event_id=form.event_id, match=match
        ),
    )
    assert (found.way, found.relation_id) == ("found", first)
    assert trip(engine, form.id).relation_id == first
    (passage,) = path(engine, form.id)
    assert (passage.outcome, passage.detail) == (
        "found",
        "found by email, club, no; 2 matched, the oldest taken",
    )

    nobody = _trip(engine, journey_id, None, email="klaas@example.org", club="Ajax")
    missing = _trip(engine, journey_id, None, club="Ajax")
    for row, words in (
        (nobody, "no relation matches email, club, no"),
        (missing, "email: not in the event; not looked up"),
    ):
        data = LookupRelationInput(
            passage=_passage(row, "lookup_relation"), event_id=row.event_id, match=match
        )
        result = await ActivityEnvironment().run(steps.lookup_relation, data)
        assert (result.way, result.relation_id) == ("not_found", None)
        assert trip(engine, row.id).relation_id is None
        assert [(p.outcome, p.detail) for p in path(engine, row.id)] == [("not_found", words)]


async def test_add_relation_creates_one_relation_per_passage_with_the_seed_defaults(
    any_engine: Engine, time_env: WorkflowEnvironment
) -> None:
    engine = any_engine
    journey_id = _journey(engine)
    taken = _relation(engine, external_id="X1")
    row = _trip(engine, journey_id, None, friend_email="Friend@Example.ORG", friend_name="Fien")
    steps = RelationStepActivities(engine, time_env.client, QUEUE)
    data = AddRelationInput(
        passage=_passage(row, "add_relation"),
        event_id=row.event_id,
        values=_values(
            {"field": "email", "from": "event.friend_email"},
            {"field": "first_name", "from": "event.friend_name"},
            {"field": "external_id", "value": "X1"},
        ),
    )
    result = await _twice(steps.add_relation, data)

    assert result.way == "next" and result.relation_id not in (None, taken)
    assert _count(engine, Relation) == 2  # the retry made no second one
    relation = _get(engine, result.relation_id)
    assert relation is not None
    assert (relation.email, relation.first_name, relation.external_id) == (
        "Friend@example.org",
        "Fien",
        None,
    )
    assert (relation.opt_in_email, relation.opt_in_sms) == (True, False)
    assert trip(engine, row.id).relation_id == result.relation_id
    (passage,) = path(engine, row.id)
    assert (passage.outcome, passage.detail) == (
        "created",
        "new relation with email, first_name; external_id: belongs to another relation",
    )
    with session_scope(engine) as session:
        (effect,) = session.exec(select(StepEffect)).all()
    assert (effect.key, effect.kind) == (f"{row.id}/step", "add_relation")


async def test_two_upserts_of_one_person_at_once_make_one_relation_and_update_it_later(
    any_engine: Engine, time_env: WorkflowEnvironment
) -> None:
    engine = any_engine
    journey_id = _journey(engine)
    steps = RelationStepActivities(engine, time_env.client, QUEUE)
    values = _values(
        {"field": "email", "from": "event.email", "unique": True},
        {"field": "first_name", "from": "event.name"},
    )

    def data(row: Trip) -> UpsertRelationInput:
        return UpsertRelationInput(
            passage=_passage(row, "upsert_relation"), event_id=row.event_id, values=values
        )

    forms = [
        _trip(engine, journey_id, None, email=f"{case}@example.org", name="Mo")
        for case in ("mo", "MO", "Mo")
    ]
    results = await asyncio.gather(
        *(ActivityEnvironment().run(steps.upsert_relation, data(row)) for row in forms)
    )

    (mo,) = {r.relation_id for r in results}
    assert mo is not None
    assert _count(engine, Relation) == 1
    assert sorted(str(r.way) for r in results) == ["existing", "existing", "new"]
    outcomes = sorted((p.outcome, p.detail) for row in forms for p in path(engine, row.id))
    assert outcomes == [
        ("created", "new relation (none by email); with email, first_name"),
        ("unchanged", "existing relation by email; first_name already so"),
        ("unchanged", "existing relation by email; first_name already so"),
    ]
    assert {trip(engine, row.id).relation_id for row in forms} == {mo}

    renamed = _trip(engine, journey_id, None, email="mo@example.org", name="Mohammed")
    again = await _twice(steps.upsert_relation, data(renamed))
    assert (again.way, again.relation_id) == ("existing", mo)
    relation = _get(engine, mo)
    assert relation is not None and relation.first_name == "Mohammed"
    assert [(p.outcome, p.detail) for p in path(engine, renamed.id)] == [
        ("updated", "existing relation by email; set first_name")
    ]


async def test_delete_relation_erases_the_person_cancels_other_trips_and_ends_this_one(
    any_engine: Engine, time_env: WorkflowEnvironment
) -> None:
    engine = any_engine
    journey_id = _journey(engine)
    # A friend added from a form post: the post's payload holds the friend's data too.
    row = _trip(engine, journey_id, None, friend_email="gone@example.org")
    friend = _relation(engine, email="gone@example.org")
    with session_scope(engine) as session:
        found = session.get(Trip, row.id)
        assert found is not None
        found.relation_id = friend
        session.add(found)
        session.add(Event(type="registration", relation_id=friend, occurred_at=ENTERED))
    elsewhere = _trip(engine, _journey(engine), friend)
    keeper = _relation(engine, email="stays@example.org")
    steps = RelationStepActivities(engine, time_env.client, QUEUE)
    data = DeleteRelationInput(passage=_passage(row, "delete_relation"), relation_id=friend)

    result = await _twice(steps.delete_relation, data)

    assert (result.way, result.closed) == (None, True)
    assert _get(engine, friend) is None and _get(engine, keeper) is not None
    assert _count(engine, Event) == 0
    ended = trip(engine, row.id)
    assert (ended.status, ended.relation_id) == ("completed", friend)
    assert [(p.outcome, p.detail) for p in path(engine, row.id)] == [
        ("deleted", "relation deleted for good; 1 other trip of it cancelled")
    ]
    other = trip(engine, elsewhere.id)
    assert other.status == "cancelled"
    with session_scope(engine) as session:
        effects = session.exec(select(StepEffect).where(col(StepEffect.trip_id) == row.id)).all()
    assert [e.kind for e in effects] == ["delete_relation"]


def test_values_from_the_event_are_checked_when_the_trip_gets_there() -> None:
    values = _values(
        {"field": "email", "from": "event.email"},
        {"field": "birth_date", "from": "event.born"},
        {"field": "opt_in_sms", "from": "event.sms"},
        {"field": "score", "from": "event.score"},
        {"field": "first_name", "from": "event.name"},
    )
    payload = {"email": "Eva@EXAMPLE.org", "born": "next week", "sms": "yes", "score": [1]}
    resolved = resolve(values, payload)
    assert resolved.fit == {"email": "Eva@example.org", "opt_in_sms": True}
    assert resolved.skipped == [
        "birth_date: not a date (YYYY-MM-DD) in the event",
        "score: not a single value (text, number, yes/no) in the event",
        "first_name: not in the event",
    ]
