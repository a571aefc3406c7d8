"""The seed's export, for real, on the time-skipping server: every day, all bounced
relations, for customer service. A hard bounce is an `email_bounced` event; a journey
with that trigger and one export step (bucket per day) writes one file per day with
exactly that day's relations, while each trip completes at once."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.contracts import DispatchResult, PassageKey
from activities.contracts.exports import (
    EXPORT_BUCKET_WORKFLOW,
    EXPORT_ENTRY_SIGNAL,
    RUN_QUIET,
    CollectExportInput,
    CollectorInput,
    ExportBucketResult,
    ExportEntry,
    collector_id,
)
from activities.dispatch import dispatch_id, start_dispatch
from activities.exports import ExportActivities, close_run_buckets
from store.db import session_scope
from store.models import AdmissionRun, ExportFile, Relation, Trip
from tests.conftest import make_settings, running_worker
from tests.support.exports import hard_bounce, newsletter, sent_mail
from tests.support.smtp import SmtpSink
from tests.workflows.support import add_journey, path_of

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NAMES = ("Ann", "Bob", "Cas", "Dirk")
DAILY_BOUNCES: dict[str, Any] = {
    "name": "Bounced relations for customer service",
    "timezone": "Europe/Amsterdam",
    "reentry": "always",
    "triggers": [{"type": "event", "event": "email_bounced"}],
    "steps": [
        {
            "id": "bounced",
            "type": "export",
            "fields": ["id", "email", "first_name"],
            "bucket": {"every": "P1D"},
        }
    ],
}


async def _bounce(env: WorkflowEnvironment, engine: Engine, task_queue: str, send_id: int) -> str:
    """A hard bounce, dispatched as the send activity does after its commit; the id of
    the trip it started, once that trip has completed."""
    event_id = hard_bounce(engine, send_id)
    assert event_id is not None
    await start_dispatch(env.client, task_queue, event_id=event_id)
    dispatched: DispatchResult = await env.client.get_workflow_handle(
        dispatch_id(event_id=event_id), result_type=DispatchResult
    ).result()
    (trip_id,) = dispatched.admitted
    await env.client.get_workflow_handle(trip_id).result()
    return trip_id


def _csv(export_dir: Path, file: ExportFile) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((export_dir / file.path).read_text())))


async def test_every_day_all_bounced_relations_in_one_file(
    time_env: WorkflowEnvironment,
    engine: Engine,
    sqlite_url: str,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> None:
    env, client = time_env, time_env.client
    export_dir = tmp_path / "exports"
    settings = make_settings(sqlite_url, smtp_sink, export_dir=export_dir)
    queue = settings.task_queue
    journey_id, _ = add_journey(engine, DAILY_BOUNCES)
    mailing = newsletter(engine)
    people = [
        sent_mail(engine, mailing, email=f"{name.lower()}@example.org", first_name=name)
        for name in NAMES
    ]
    # Day 1 begins at 10:00 in Amsterdam, whatever the day the test runs.
    now = await env.get_current_time()
    day1 = now.astimezone(AMSTERDAM).date() + timedelta(days=1)
    await env.sleep(datetime.combine(day1, time(10), AMSTERDAM) - now)

    async with running_worker(client, engine, settings):
        day1_trips = [await _bounce(env, engine, queue, send) for _, send in people[:3]]
        # The trips completed at once; the bucket's file is not written before midnight.
        collector = client.get_workflow_handle(
            collector_id(journey_id, "bounced", day1.isoformat()),
            result_type=ExportBucketResult,
        )
        assert (await collector.describe()).status == WorkflowExecutionStatus.RUNNING
        # The Web UI counts every trip that joined, though the collector sleeps on.
        shown = await collector.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert shown.current_details.startswith(
            f"**export `bounced` · bucket {day1}**: 3 trips collected; writes at "
        )
        with session_scope(engine) as session:
            trips = session.exec(select(Trip).where(col(Trip.id).in_(day1_trips))).all()
            assert {t.status for t in trips} == {"completed"}
            assert session.exec(select(ExportFile)).all() == []
        (passage,) = path_of(engine, day1_trips[0])
        assert (passage.outcome, passage.detail) == (
            "collected",
            f"in bucket {day1} (file written after "
            f"{day1 + timedelta(days=1)} 00:00 Europe/Amsterdam)",
        )

        await env.sleep(timedelta(days=1))  # day 2, 10:00: day 1's file is written
        with env.auto_time_skipping_disabled():
            first = await collector.result()

        assert first.rows == 3 and len(first.files) == 1

        # A trip's hand-over repeated after the file was written (a retry whose record
        # was lost) starts a collector that finds the trip exported: no new row.
        late = await client.start_workflow(
            EXPORT_BUCKET_WORKFLOW,
            CollectorInput(
                journey_id=journey_id,
                step_id="bounced",
                bucket=day1.isoformat(),
                fields=["id", "email", "first_name"],
                file="{journey}-{step}-{bucket}.csv",
                ends_at=datetime.combine(day1 + timedelta(days=1), time(0), AMSTERDAM),
            ),
            id=collector.id,
            task_queue=queue,
            start_signal=EXPORT_ENTRY_SIGNAL,
            start_signal_args=[ExportEntry(trip_id=day1_trips[0], relation_id=people[0][0])],
            result_type=ExportBucketResult,
        )
        # (Waited for on the clock: nothing is due, and time skipping would jump years.)
        with env.auto_time_skipping_disabled():
            assert await late.result() == ExportBucketResult()

        day2_trip = await _bounce(env, engine, queue, people[3][1])
        day2 = day1 + timedelta(days=1)
        await env.sleep(timedelta(days=1))
        with env.auto_time_skipping_disabled():
            second = await client.get_workflow_handle(
                collector_id(journey_id, "bounced", day2.isoformat()),
                result_type=ExportBucketResult,
            ).result()
        assert second.rows == 1

    with session_scope(engine) as session:
        files = list(session.exec(select(ExportFile).order_by(col(ExportFile.id))).all())
    assert [(f.bucket, f.part, f.rows) for f in files] == [
        (day1.isoformat(), 1, 3),
        (day2.isoformat(), 1, 1),
    ]
    assert files[0].path == (
        f"{journey_id}/bounced/bounced-relations-for-customer-service-bounced-{day1}.csv"
    )
    expected = {
        day1.isoformat(): people[:3],
        day2.isoformat(): people[3:4],
    }
    names = {relation_id: name for (relation_id, _), name in zip(people, NAMES, strict=True)}
    for file in files:
        rows = _csv(export_dir, file)
        assert rows == [
            {
                "id": str(relation_id),
                "email": f"{names[relation_id].lower()}@example.org",
                "first_name": names[relation_id],
            }
            for relation_id, _ in expected[file.bucket]
        ]
    assert path_of(engine, day2_trip)[0].outcome == "collected"


RUN_EXPORT: dict[str, Any] = {
    "name": "This week's selection",
    "steps": [
        {"id": "selected", "type": "export", "fields": ["id", "email"], "bucket": "run"},
    ],
}


def _run_trips(engine: Engine, journey_id: int, emails: list[str]) -> tuple[int, list[Trip]]:
    """A selection run of the journey and a running trip it admitted per address."""
    with session_scope(engine) as session:
        run = AdmissionRun(
            journey_id=journey_id,
            journey_version=1,
            key="selection:0:2027-03-01T08:00",
            trigger="selection",
            trigger_index=0,
            source={},
            admission_key="run:selection:0:2027-03-01T08:00",
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        trips = []
        for email in emails:
            relation = Relation(email=email)
            session.add(relation)
            session.flush()
            assert relation.id is not None
            trip = Trip(
                id=f"trip:{journey_id}:{relation.id}:1",
                journey_id=journey_id,
                journey_version=1,
                relation_id=relation.id,
                admitted_relation_id=relation.id,
                number=1,
                admission_key=run.admission_key,
            )
            session.add(trip)
            trips.append(trip)
        return run.id, trips


async def test_a_run_bucket_is_written_once_its_run_ended(
    time_env: WorkflowEnvironment,
    engine: Engine,
    sqlite_url: str,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> None:
    env, client = time_env, time_env.client
    export_dir = tmp_path / "exports"
    settings = make_settings(sqlite_url, smtp_sink, export_dir=export_dir)
    journey_id, _ = add_journey(engine, RUN_EXPORT)
    run_id, (early, late) = _run_trips(engine, journey_id, ["a@example.org", "b@example.org"])
    exports = ExportActivities(engine, client, settings.task_queue, export_dir)

    async def reach(trip: Trip) -> str:
        assert trip.relation_id is not None
        passage = PassageKey(
            trip_id=trip.id,
            seq=1,
            step_id="selected",
            step_type="export",
            entered_at=await env.get_current_time(),
        )
        result = await ActivityEnvironment().run(
            exports.collect_export,
            CollectExportInput(
                passage=passage,
                relation_id=trip.relation_id,
                journey_id=journey_id,
                every="run",
                zone="Europe/Amsterdam",
                fields=["id", "email"],
                file="{journey}-{step}-{bucket}.csv",
            ),
        )
        return result.detail

    async with running_worker(client, engine, settings):
        assert await reach(early) == (
            f"in bucket run-{run_id} (file written when selection run {run_id} has ended)"
        )
        collector = client.get_workflow_handle(
            collector_id(journey_id, "selected", f"run-{run_id}"), result_type=ExportBucketResult
        )
        await env.sleep(timedelta(days=1))  # a run bucket waits for its run, not the clock
        assert (await collector.describe()).status == WorkflowExecutionStatus.RUNNING
        with session_scope(engine) as session:
            run = session.get(AdmissionRun, run_id)
            assert run is not None
            run.status, run.finished_at = "finished", await env.get_current_time()
            session.add(run)
        await close_run_buckets(client, engine, run_id)
        # A trip still on its way when the run ended lands in the same file.
        await reach(late)
        await env.sleep(RUN_QUIET + timedelta(seconds=1))
        with env.auto_time_skipping_disabled():
            written = await collector.result()

    assert (written.rows, len(written.files)) == (2, 1)
    with session_scope(engine) as session:
        (file,) = session.exec(select(ExportFile)).all()
    assert file.bucket == f"run-{run_id}"
    assert [r["email"] for r in _csv(export_dir, file)] == ["a@example.org", "b@example.org"]
