"""The export step's activities on both databases: a trip handed to its bucket once
(a retry signals no more), a bucket's CSV written once (a retry or a late trip never
duplicates a row), erased relations left out, and the `email_bounced` event a hard
bounce makes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio.api.enums.v1 import EventType
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.contracts import PassageKey
from activities.contracts.exports import (
    CollectExportInput,
    WriteExportInput,
    collector_id,
)
from activities.exports import ExportActivities
from activities.passages import write_passage
from domain.statuses import Outcome
from store import effects, feedback
from store.db import make_engine, session_scope
from store.models import (
    Event,
    ExportFile,
    ExportLine,
    Journey,
    Relation,
    Send,
    StepEffect,
    Trip,
)
from tests.activities.data import path, trip
from tests.support.exports import hard_bounce, newsletter, sent_mail

# 2027-03-01 22:30 UTC is 23:30 in Amsterdam: still 1 March there.
REACHED = datetime(2027, 3, 1, 22, 30, tzinfo=UTC)
FIELDS = ["id", "email", "first_name", "nickname", "trip_id", "reached_at"]


@pytest.fixture
def any_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _journey(engine: Engine, name: str = "Bounced, for customer service") -> int:
    with session_scope(engine) as session:
        journey = Journey(name=name, status="active", definition={}, active_version=1)
        session.add(journey)
        session.flush()
        assert journey.id is not None
        return journey.id


def _trip(engine: Engine, journey_id: int, **fields: Any) -> tuple[str, int]:
    """A relation on a running trip that reached the export step: (trip id, relation id)."""
    with session_scope(engine) as session:
        relation = Relation(**fields)
        session.add(relation)
        session.flush()
        assert relation.id is not None
        trip_id = f"trip:{journey_id}:{relation.id}:1"
        session.add(
            Trip(
                id=trip_id,
                journey_id=journey_id,
                journey_version=1,
                relation_id=relation.id,
                number=1,
                current_step="bounced",
            )
        )
        session.flush()
        write_passage(session, _passage(trip_id), Outcome.collected)
        return trip_id, relation.id


def _passage(trip_id: str) -> PassageKey:
    return PassageKey(
        trip_id=trip_id, seq=1, step_id="bounced", step_type="export", entered_at=REACHED
    )


def _rows(export_dir: Path, relative: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((export_dir / relative).read_text())))


def _files(engine: Engine) -> list[ExportFile]:
    with session_scope(engine) as session:
        return list(session.exec(select(ExportFile).order_by(col(ExportFile.id))).all())


async def test_a_trip_joins_its_bucket_once_and_goes_on(
    any_engine: Engine, time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    engine = any_engine
    journey_id = _journey(engine)
    trip_id, relation_id = _trip(engine, journey_id, email="ann@example.org")
    exports = ExportActivities(engine, time_env.client, "exports-test", tmp_path)
    data = CollectExportInput(
        passage=_passage(trip_id),
        relation_id=relation_id,
        journey_id=journey_id,
        every="P1D",
        zone="Europe/Amsterdam",
        fields=["id", "email"],
        file="{journey}-{step}-{bucket}.csv",
        ends_trip=True,
    )
    env = ActivityEnvironment()
    first = await env.run(exports.collect_export, data)
    # A retry (the worker died before reporting) finds the effect and signals no more.
    again = await env.run(exports.collect_export, data)

    assert first == again
    assert (first.bucket, first.closed) == ("2027-03-01", True)
    assert first.detail == (
        "in bucket 2027-03-01 (file written after 2027-03-02 00:00 Europe/Amsterdam)"
    )
    (passage,) = path(engine, trip_id)
    assert (passage.outcome, passage.detail) == ("collected", first.detail)
    assert trip(engine, trip_id).status == "completed"
    with session_scope(engine) as session:
        recorded = effects.recorded(session, effects.trip_key(trip_id, "bounced"))
        assert len(session.exec(select(StepEffect)).all()) == 1
    assert recorded is not None and recorded["bucket"] == "2027-03-01"
    assert "ann@example.org" not in str(recorded)
    handle = time_env.client.get_workflow_handle(collector_id(journey_id, "bounced", "2027-03-01"))
    history = await handle.fetch_history()
    signals = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert len(signals) == 1
    assert b"ann@example.org" not in history.to_json().encode()


def test_a_bucket_is_written_once_with_its_rows_and_a_late_trip_makes_part_2(
    any_engine: Engine, tmp_path: Path
) -> None:
    engine = any_engine
    journey_id = _journey(engine)
    ann = _trip(
        engine, journey_id, email="ann@example.org", first_name="Ann", custom={"nickname": "annie"}
    )
    bob = _trip(engine, journey_id, email="bob@example.org", first_name='=HYPERLINK("x")')
    gone = _trip(engine, journey_id, email="gone@example.org", first_name="Gone")
    with session_scope(engine) as session:
        session.delete(session.get(Relation, gone[1]))
    exports = ExportActivities(engine, None, "unused", tmp_path)  # type: ignore[arg-type]
    data = WriteExportInput(
        journey_id=journey_id,
        step_id="bounced",
        bucket="2027-03-01",
        fields=FIELDS,
        file="{journey}-{step}-{bucket}.csv",
        entries=dict([ann, bob, gone]),
    )
    written = ActivityEnvironment().run(exports.write_export, data)
    # The activity is retried (its result was lost): no second file, no second row.
    retried = ActivityEnvironment().run(exports.write_export, data)

    assert (written.rows, written.erased, written.part) == (2, 1, 1)
    assert (retried.file_id, retried.rows, retried.repeated) == (None, 0, 2)
    (file,) = _files(engine)
    assert file.path == f"{journey_id}/bounced/bounced-for-customer-service-bounced-2027-03-01.csv"
    rows = _rows(tmp_path, file.path)
    assert [r["email"] for r in rows] == ["ann@example.org", "bob@example.org"]
    assert rows[0] == {
        "id": str(ann[1]),
        "email": "ann@example.org",
        "first_name": "Ann",
        "nickname": "annie",
        "trip_id": ann[0],
        "reached_at": "2027-03-01T22:30:00+00:00",
    }
    # A spreadsheet shows a formula typed into a form as text, not as a formula.
    assert rows[1]["first_name"] == '\'=HYPERLINK("x")'
    assert "gone@example.org" not in (tmp_path / file.path).read_text()
    assert not [p for p in tmp_path.rglob("*.tmp")]

    # A trip that comes after the bucket was written goes into part 2, alone.
    late = _trip(engine, journey_id, email="late@example.org", first_name="Late")
    part2 = ActivityEnvironment().run(
        exports.write_export, data.model_copy(update={"entries": dict([ann, late])})
    )
    assert (part2.part, part2.rows, part2.repeated) == (2, 1, 1)
    files = _files(engine)
    assert [f.part for f in files] == [1, 2]
    assert files[1].path.endswith("-2027-03-01-part2.csv")
    assert [r["email"] for r in _rows(tmp_path, files[1].path)] == ["late@example.org"]
    with session_scope(engine) as session:
        lines = session.exec(select(ExportLine.trip_id, ExportLine.file_id)).all()
    assert sorted(lines) == sorted([(ann[0], file.id), (bob[0], file.id), (late[0], files[1].id)])


def test_a_hard_bounce_is_an_email_bounced_event_once_per_send(any_engine: Engine) -> None:
    engine = any_engine
    journey_id = newsletter(engine)
    relation_id, send_id = sent_mail(engine, journey_id, email="bounced@example.org")
    soft_relation, soft_send = sent_mail(engine, journey_id, email="full@example.org")

    event_id = hard_bounce(engine, send_id, "smtp")
    # The same mail reported again, by the bounce mailbox: a second feedback row, no event.
    assert hard_bounce(engine, send_id, "dsn") == event_id
    with session_scope(engine) as session:
        send = session.get(Send, soft_send)
        assert send is not None
        feedback.bounce(session, send, hard=False, detail="452 mailbox full", dedupe_key="s")

    with session_scope(engine) as session:
        found = session.exec(select(Event)).all()
    assert [(e.id, e.type, e.relation_id) for e in found] == [
        (event_id, "email_bounced", relation_id)
    ]
    assert found[0].payload == {
        "send_id": send_id,
        "template": "news",
        "journey_id": journey_id,
        "step_id": "news",
    }
    assert "bounced@example.org" not in str(found[0].payload)
    assert soft_relation != relation_id
