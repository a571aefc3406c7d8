"""The unsubscribe step on the time-skipping server, on SQLite and PostgreSQL: from all
mail, from SMS, from this journey; a retried activity; an erased relation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.admission import AdmissionConflict, admit
from activities.consent import ConsentActivities, change_cause
from activities.contracts import PassageKey, UnsubscribeInput
from activities.dispatch import dispatch_id
from domain.statuses import SkipReason
from store import relations
from store.db import make_engine, session_scope
from store.models import JourneyExit, Passage, Relation, Segment, SegmentChange, SegmentMember, Trip
from tests.conftest import make_settings, running_worker
from tests.support.smtp import SmtpSink
from tests.workflows.support import (
    add_journey,
    add_relation,
    add_template,
    path_of,
    sends_of,
    start_trip,
    trip_row,
)
from worker.settings import Settings

# On the trigger-less journeys below, the trips are started directly (start_trip); the
# journey-scope one admits through `admit`, as the API's manual add does.
NO_MORE_MAIL: dict[str, Any] = {
    "name": "No more mail",
    "steps": [
        {"id": "stop_mail", "type": "unsubscribe", "scope": "email"},
        {"id": "later", "type": "send_email", "template": "later"},
    ],
}
NO_MORE_SMS: dict[str, Any] = {
    "name": "No more SMS",
    "steps": [{"id": "stop_sms", "type": "unsubscribe", "scope": "sms"}],
}
# Members leave the journey for good; others get a mail.
LEAVE: dict[str, Any] = {
    "name": "Leave",
    "reentry": "always",
    "steps": [
        {
            "id": "member",
            "type": "if",
            "condition": {"field": "member_since", "op": "is_set"},
            "then": "leave",
            "else": "hello",
        },
        {"id": "leave", "type": "unsubscribe", "scope": "journey"},
        {"id": "hello", "type": "send_email", "template": "later"},
    ],
}


@pytest.fixture
def any_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def any_settings(db_url: str, smtp_sink: SmtpSink) -> Settings:
    return make_settings(db_url, smtp_sink)


def _segments(engine: Engine, **conditions: dict[str, Any]) -> None:
    with session_scope(engine) as session:
        for key, condition in conditions.items():
            session.add(Segment(key=key, name=key, condition=condition))


def _created(engine: Engine, **fields: Any) -> int:
    """A relation as the API creates it: its segments evaluated."""
    with Session(engine) as session:
        relation_id = relations.create(session, fields).id
    assert relation_id is not None
    return relation_id


def _relation(engine: Engine, relation_id: int) -> Relation | None:
    with session_scope(engine) as session:
        return session.get(Relation, relation_id)


def _member_of(engine: Engine, relation_id: int) -> set[str]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(Segment.key)
            .join(SegmentMember, col(SegmentMember.segment_id) == col(Segment.id))
            .where(col(SegmentMember.relation_id) == relation_id)
        ).all()
        return set(rows)


async def test_scope_email_turns_consent_off_and_the_next_mail_is_skipped(
    time_env: WorkflowEnvironment, any_engine: Engine, any_settings: Settings, smtp_sink: SmtpSink
) -> None:
    engine = any_engine
    add_template(engine, "later", "Later", "<p>later</p>")
    _segments(
        engine,
        mailable={"field": "opt_in_email", "op": "eq", "value": True},
        unmailable={"field": "opt_in_email", "op": "eq", "value": False},
    )
    relation_id = _created(engine, email="stop@example.org", opt_in_email=True)
    assert _member_of(engine, relation_id) == {"mailable"}
    journey = add_journey(engine, NO_MORE_MAIL)
    # Another journey admits whoever enters `unmailable`: the change must be dispatched.
    sorry_id, _ = add_journey(
        engine,
        {
            "name": "Sorry to see you go",
            "triggers": [{"type": "segment_entry", "segment": "unmailable"}],
            "steps": [{"id": "bye", "type": "exit"}],
        },
    )
    async with running_worker(time_env.client, engine, any_settings):
        handle = await start_trip(
            time_env.client, engine, any_settings.task_queue, journey, relation_id
        )
        assert await handle.result() == "stop_mail > later"
        with session_scope(engine) as session:
            change = session.exec(
                select(SegmentChange).where(
                    col(SegmentChange.relation_id) == relation_id,
                    col(SegmentChange.cause).startswith("unsubscribe:"),
                )
            ).one()
        assert change.entered == ["unmailable"] and change.left == ["mailable"]
        await time_env.client.get_workflow_handle(dispatch_id(change_id=change.id)).result()

    relation = _relation(engine, relation_id)
    assert relation is not None and relation.opt_in_email is False
    assert _member_of(engine, relation_id) == {"unmailable"}
    path = path_of(engine, handle.id)
    assert [(p.step_id, p.outcome) for p in path] == [
        ("stop_mail", "unsubscribed"),
        ("later", "skipped"),
    ]
    assert path[0].detail == (
        "opt-in email off; left segment `mailable`; entered segment `unmailable`"
    )
    assert "stop@example.org" not in path[0].detail
    (send,) = sends_of(engine, handle.id)
    assert (send.status, send.reason) == ("skipped", SkipReason.no_consent)
    assert smtp_sink.messages == []
    with session_scope(engine) as session:
        admitted = session.exec(select(Trip).where(col(Trip.journey_id) == sorry_id)).one()
    assert admitted.relation_id == relation_id
    assert admitted.trigger is not None and "unmailable" in admitted.trigger
    assert trip_row(engine, handle.id).status == "completed"


async def test_scope_sms_turns_sms_consent_off_and_leaves_email_alone(
    time_env: WorkflowEnvironment, any_engine: Engine, any_settings: Settings
) -> None:
    engine = any_engine
    texter = add_relation(engine, phone="+31600000001", opt_in_sms=True, opt_in_email=True)
    silent = add_relation(engine, phone="+31600000002", opt_in_sms=False)
    journey = add_journey(engine, NO_MORE_SMS)
    async with running_worker(time_env.client, engine, any_settings):
        handles = [
            await start_trip(time_env.client, engine, any_settings.task_queue, journey, who)
            for who in (texter, silent)
        ]
        for handle in handles:
            await handle.result()

    relation = _relation(engine, texter)
    assert relation is not None
    assert (relation.opt_in_sms, relation.opt_in_email) == (False, True)
    [(texted,), (quiet,)] = [path_of(engine, h.id) for h in handles]
    assert (texted.outcome, texted.detail) == ("unsubscribed", "opt-in SMS off")
    assert (quiet.outcome, quiet.detail) == ("unsubscribed", "opt-in SMS was already off")
    assert "+316" not in texted.detail
    assert {trip_row(engine, h.id).status for h in handles} == {"completed"}


async def test_scope_journey_ends_the_trip_and_the_relation_is_never_admitted_again(
    time_env: WorkflowEnvironment, any_engine: Engine, any_settings: Settings, smtp_sink: SmtpSink
) -> None:
    engine = any_engine
    add_template(engine, "later", "Later", "<p>later</p>")
    relation_id = add_relation(
        engine, email="member@example.org", custom={"member_since": "2024-01-01"}
    )
    journey_id, _ = add_journey(engine, LEAVE)
    client, queue = time_env.client, any_settings.task_queue
    async with running_worker(client, engine, any_settings):
        trip = await admit(client, engine, queue, journey_id, relation_id)
        assert await client.get_workflow_handle(trip.id).result() == "member > leave"
        with pytest.raises(
            AdmissionConflict,
            match=f"relation {relation_id} unsubscribed from journey {journey_id}",
        ):
            await admit(client, engine, queue, journey_id, relation_id)

    path = path_of(engine, trip.id)
    assert [(p.step_id, p.outcome, p.detail) for p in path][1:] == [
        ("leave", "unsubscribed", "left the journey")
    ]
    ended = trip_row(engine, trip.id)
    assert (ended.status, ended.current_step) == ("completed", "leave")
    assert smtp_sink.messages == []
    with session_scope(engine) as session:
        exits = session.exec(select(JourneyExit)).all()
        trips = session.exec(select(func.count()).select_from(Trip)).one()
    assert [(e.journey_id, e.relation_id) for e in exits] == [(journey_id, relation_id)]
    assert trips == 1  # the refused admission left no trip row behind


async def test_a_retried_activity_changes_nothing_more(
    time_env: WorkflowEnvironment, any_engine: Engine
) -> None:
    """A first attempt committed but its answer was lost (the worker died): the retry
    finds its passage and leaves the relation as it is now, even if an operator turned
    the consent back on in between."""
    engine = any_engine
    _segments(engine, mailable={"field": "opt_in_email", "op": "eq", "value": True})
    relation_id = _created(engine, email="twice@example.org", opt_in_email=True)
    journey_id, _ = add_journey(engine, NO_MORE_MAIL)
    trip_id = f"trip:{journey_id}:{relation_id}:1"
    with session_scope(engine) as session:
        session.add(
            Trip(
                id=trip_id,
                journey_id=journey_id,
                journey_version=1,
                relation_id=relation_id,
                number=1,
                current_step="stop_mail",
            )
        )
    data = UnsubscribeInput(
        passage=PassageKey(
            trip_id=trip_id,
            seq=1,
            step_id="stop_mail",
            step_type="unsubscribe",
            entered_at=datetime(2026, 5, 1, 9, tzinfo=UTC),
        ),
        relation_id=relation_id,
        journey_id=journey_id,
        scope="email",
    )
    consent = ConsentActivities(engine, time_env.client, "nobody-polls-this-queue")
    first = await ActivityEnvironment().run(consent.unsubscribe, data)
    with session_scope(engine) as session:
        relation = session.get(Relation, relation_id)
        assert relation is not None and relation.opt_in_email is False
        relation.opt_in_email = True  # an operator, straight in the table
        session.add(relation)
    again = await ActivityEnvironment().run(consent.unsubscribe, data)

    assert again == first
    assert first.detail == "opt-in email off; left segment `mailable`"
    relation = _relation(engine, relation_id)
    assert relation is not None and relation.opt_in_email is True
    with session_scope(engine) as session:
        passages = session.exec(select(Passage).where(col(Passage.trip_id) == trip_id)).all()
        changes = session.exec(
            select(SegmentChange.id).where(col(SegmentChange.cause) == change_cause(data))
        ).all()
    assert [(p.seq, p.outcome) for p in passages] == [(1, "unsubscribed")]
    (change_id,) = changes
    # Its dispatch was started (a second start finds the first).
    started = time_env.client.get_workflow_handle(dispatch_id(change_id=change_id))
    assert (await started.describe()).id == dispatch_id(change_id=change_id)


async def test_an_erased_relation_ends_the_trip(
    time_env: WorkflowEnvironment, any_engine: Engine, any_settings: Settings, smtp_sink: SmtpSink
) -> None:
    engine = any_engine
    add_template(engine, "later", "Later", "<p>later</p>")
    relation_id = add_relation(engine, email="gone@example.org")
    journey = add_journey(engine, NO_MORE_MAIL)
    with session_scope(engine) as session:
        session.delete(session.get(Relation, relation_id))
    async with running_worker(time_env.client, engine, any_settings):
        handle = await start_trip(
            time_env.client, engine, any_settings.task_queue, journey, relation_id
        )
        assert await handle.result() == "stop_mail"
    (only,) = path_of(engine, handle.id)
    assert (only.outcome, only.detail) == ("relation_erased", "the relation no longer exists")
    assert trip_row(engine, handle.id).status == "completed"
    assert sends_of(engine, handle.id) == [] and smtp_sink.messages == []
