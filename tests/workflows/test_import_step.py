"""The import step on the time-skipping server: the journey waits for the import, then
the new relations start their trips at `new`'s step, the updated ones at `updated`'s,
and the importing trip goes to `on_error` because a row was refused (or, with a clean
file and no `on_error`, ends at the step)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.admission_runs import workflow_id as run_workflow_id
from activities.contracts import PassageKey
from activities.contracts.imports import CloseStepImportInput
from activities.dispatch import dispatch_id
from activities.imports import ImportActivities
from store.db import session_scope
from store.models import AdmissionRun, ImportJob, Relation, Segment, SegmentChange, Trip
from tests.conftest import running_worker
from tests.workflows.support import add_journey, add_relation, path_of, start_trip
from worker.settings import Settings

MAPPING = {"E-mail": "email", "Voornaam": "first_name"}
NIGHTLY: dict[str, Any] = {
    "name": "Nightly members",
    "steps": [
        {
            "id": "members",
            "type": "import",
            "file": "members-{{ today }}.csv",
            "map": MAPPING,
            "unique": ["email"],
            "new": "welcome",
            "updated": "thanks",
            "on_error": "tell_support",
        },
        {"id": "welcome", "type": "exit"},
        {"id": "thanks", "type": "exit"},
        {"id": "tell_support", "type": "exit"},
    ],
}
CLEAN: dict[str, Any] = {
    "name": "Clean file",
    "steps": [
        {"id": "again", "type": "import", "file": "clean.csv", "map": MAPPING, "unique": ["email"]},
        {"id": "hello", "type": "exit"},
    ],
}


def _drop(directory: Path, name: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")


def _trip_of(engine: Engine, journey_id: int, email: str) -> Trip:
    with Session(engine) as session:
        found = session.exec(
            select(Trip)
            .join(Relation, col(Relation.id) == col(Trip.relation_id))
            .where(col(Trip.journey_id) == journey_id, func.lower(col(Relation.email)) == email)
        ).one()
        return found


async def test_new_and_updated_relations_travel_on_from_their_ways(
    time_env: WorkflowEnvironment, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    directory = tmp_path / "imports"
    settings = settings.model_copy(update={"import_dir": directory})
    client = time_env.client
    # The passage's day in the journey's timezone names the file: drop it for any day
    # the server's clock may be on.
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Amsterdam")).date()
    for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
        _drop(
            directory,
            f"members-{day.isoformat()}.csv",
            "E-mail,Voornaam\n"
            "old@example.org,Oldie\n"  # updated
            "new@example.org,Newbie\n"  # new
            "NEW@example.org,Newer\n"  # the same person again: still a new relation
            "bad-address,Bad\n",  # refused
        )
    _drop(directory, "clean.csv", "E-mail,Voornaam\nold@example.org,Olga\n")
    with session_scope(engine) as session:
        session.add(
            Segment(
                key="newer",
                name="Newer",
                condition={"field": "first_name", "op": "eq", "value": "Newer"},
            )
        )
    operator = add_relation(engine, email="ops@example.org")
    old = add_relation(engine, email="old@example.org", first_name="Old")
    nightly = add_journey(engine, NIGHTLY)
    clean = add_journey(engine, CLEAN)
    # A journey on the segment: the import's entrant is dispatched to it.
    welcome_newer = add_journey(
        engine,
        {
            "name": "Newer",
            "triggers": [{"type": "segment_entry", "segment": "newer"}],
            "steps": [{"id": "hi", "type": "exit"}],
        },
    )

    async with running_worker(client, engine, settings):
        importing = await start_trip(client, engine, settings.task_queue, nightly, operator)
        assert await importing.result() == "members > tell_support"
        ending = await start_trip(client, engine, settings.task_queue, clean, operator)
        assert await ending.result() == "again"
        with Session(engine) as session:
            runs = session.exec(select(AdmissionRun).order_by(col(AdmissionRun.id))).all()
            change = session.exec(
                select(SegmentChange).where(col(SegmentChange.cause).startswith("import:"))
            ).one()
        for run in runs:
            await client.get_workflow_handle(run_workflow_id(run.id or 0)).result()
        with Session(engine) as session:
            admitted = session.exec(
                select(Trip.id).where(col(Trip.trigger).startswith("import"))
            ).all()
        assert len(admitted) == 3  # new@ and old@ to the nightly journey, old@ to the other
        for trip_id in admitted:
            await client.get_workflow_handle(trip_id).result()
        await client.get_workflow_handle(dispatch_id(change_id=change.id)).result()

        # The close activity again (a retry after its reply was lost): the same runs.
        [row] = [p for p in path_of(engine, importing.id) if p.step_id == "members"]
        acts = ImportActivities(engine, client, settings.task_queue, directory)
        with Session(engine) as session:
            job = session.exec(select(ImportJob).where(col(ImportJob.step_id) == "members")).one()
        again = await ActivityEnvironment().run(
            acts.close_step_import,
            CloseStepImportInput(
                passage=PassageKey(
                    trip_id=importing.id,
                    seq=1,
                    step_id="members",
                    step_type="import",
                    entered_at=row.entered_at,
                ),
                journey_id=nightly[0],
                journey_version=1,
                job_id=job.id or 0,
                targets={"new": "welcome", "updated": "thanks"},
                ends_trip=False,
            ),
        )
        assert again.run_ids == [r.id for r in runs[:2]]

    # The importing trip: the import's counts, then on_error (a row was refused).
    assert [(p.step_id, p.outcome, p.detail) for p in path_of(engine, importing.id)] == [
        ("members", "imported", "4 rows: 1 new, 2 updated, 1 invalid"),
        ("tell_support", "exited", ""),
    ]
    # Each imported relation on a trip of its own, from its way's step.
    new_trip = _trip_of(engine, nightly[0], "new@example.org")
    old_trip = _trip_of(engine, nightly[0], "old@example.org")
    assert [p.step_id for p in path_of(engine, new_trip.id)] == ["welcome"]
    assert [p.step_id for p in path_of(engine, old_trip.id)] == ["thanks"]
    assert str(new_trip.trigger).startswith("import `members-")
    assert str(new_trip.trigger).endswith(".csv` (new)")
    with Session(engine) as session:
        nightly_trips = session.exec(select(Trip).where(col(Trip.journey_id) == nightly[0])).all()
        assert len(nightly_trips) == 3  # the importing trip and the two relations'
        newer = session.exec(
            select(Relation).where(func.lower(col(Relation.email)) == "new@example.org")
        ).one()
        # The later row's values, its address's spelling too.
        assert (newer.email, newer.first_name) == ("NEW@example.org", "Newer")
        assert session.get(Relation, old) is not None
        assert change.relation_id == newer.id and change.entered == ["newer"]
        assert session.get(SegmentChange, change.id).dispatched_at is not None  # type: ignore[union-attr]
        [newer_trip] = session.exec(
            select(Trip).where(col(Trip.journey_id) == welcome_newer[0])
        ).all()
        assert newer_trip.relation_id == newer.id
    # A clean file and no on_error: the importing trip ends at the step, and the updated
    # relation starts at `continue`'s step (the next one).
    assert [(p.step_id, p.outcome) for p in path_of(engine, ending.id)] == [("again", "imported")]
    hello = _trip_of(engine, clean[0], "old@example.org")
    assert [(p.step_id, p.outcome) for p in path_of(engine, hello.id)] == [("hello", "exited")]
