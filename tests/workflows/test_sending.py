"""What a trip does when a send cannot happen: no consent, a bounce, an erased relation."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from store.db import session_scope
from store.models import Relation
from tests.conftest import running_worker
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

TWO_MAILS = {
    "name": "Two mails",
    "steps": [
        {"id": "first", "type": "send_email", "template": "first"},
        {"id": "pause", "type": "wait", "duration": "P1D"},
        {"id": "second", "type": "send_email", "template": "second"},
    ],
}


def _templates(engine: Engine) -> None:
    add_template(engine, "first", "First", "<p>1</p>")
    add_template(engine, "second", "Second", "<p>2</p>")


async def test_relation_without_consent_is_skipped_and_the_path_says_so(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    _templates(engine)
    relation_id = add_relation(engine, email="nope@example.org", opt_in_email=False)
    journey = add_journey(engine, TWO_MAILS)
    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        await handle.result()
    assert smtp_sink.messages == []
    path = path_of(engine, handle.id)
    assert [(r.step_id, r.outcome) for r in path] == [
        ("first", "skipped"),
        ("pause", "waited"),
        ("second", "skipped"),
    ]
    assert "consent" in path[0].detail
    assert trip_row(engine, handle.id).status == "completed"


async def test_hard_bounce_is_recorded_and_the_trip_goes_on(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    _templates(engine)
    smtp_sink.handler.refuse["gone@example.org"] = "550 5.1.1 mailbox unavailable"
    relation_id = add_relation(engine, email="gone@example.org")
    journey = add_journey(engine, TWO_MAILS)
    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        await handle.result()
    path = path_of(engine, handle.id)
    # The bounce put the address on the suppression list: the second mail is not tried.
    assert [r.outcome for r in path] == ["bounced", "waited", "skipped"]
    assert "550" in path[0].detail
    assert [s.status for s in sends_of(engine, handle.id)] == ["bounced", "skipped"]
    assert trip_row(engine, handle.id).status == "completed"


async def test_erasing_a_relation_mid_trip_ends_the_trip_without_mail(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp_sink: SmtpSink
) -> None:
    _templates(engine)
    relation_id = add_relation(engine, email="forget-me@example.org", first_name="Fay")
    journey = add_journey(engine, TWO_MAILS)
    async with running_worker(time_env.client, engine, settings):
        handle = await start_trip(
            time_env.client, engine, settings.task_queue, journey, relation_id
        )
        await time_env.sleep(timedelta(hours=6))
        with session_scope(engine) as session:
            relation = session.get(Relation, relation_id)
            session.delete(relation)
        await handle.result()
    assert [m["Subject"] for m in smtp_sink.messages] == ["First"]
    path = path_of(engine, handle.id)
    assert path[-1].step_id == "second" and path[-1].outcome == "skipped"
    assert "erased" in path[-1].detail
    assert trip_row(engine, handle.id).status == "completed"
