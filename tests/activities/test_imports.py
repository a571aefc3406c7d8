"""Import batches on SQLite and PostgreSQL: each row makes, updates or is refused, rows
that recognise the same person update one relation (across batches too), a batch that
dies leaves nothing and its retry does it whole, and a repeated batch does nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.contracts import PassageKey
from activities.contracts.imports import (
    ImportBatchInput,
    ImportState,
    OpenStepImportInput,
    StartImportInput,
)
from activities.imports import ImportActivities
from domain.import_mapping import Row
from store import imports, locks, relation_writes
from store.db import session_scope
from store.models import (
    ImportJob,
    ImportRow,
    Relation,
    Segment,
    SegmentChange,
    StepEffect,
    utcnow,
)
from tests.activities.data import ENTERED, seed_trip
from tests.workflows.support import add_journey

CSV = (
    "E-mail;Voornaam;Niveau\r\n"
    "anna@example.org;Anna;silver\r\n"  # 1: updates the relation that was there
    "bob@example.org;Bob;bronze\r\n"  # 2: new
    "BOB@example.org;Bobby;\r\n"  # 3: updates row 2's relation, same batch
    "not-an-address;Carl;\r\n"  # 4: refused
    "bob@example.org;Robert;\r\n"  # 5: updates row 2's relation, next batch
    "cees@example.org;;\r\n"  # 6: new, no first name
)
MAPPING = {"E-mail": "email", "Voornaam": "first_name", "Niveau": "level"}


def _job(engine: Engine, directory: Path, text: str = CSV) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "members.csv").write_text(text, encoding="utf-8-sig")
    with session_scope(engine) as session:
        job = imports.create_job(
            session, name="members.csv", path="members.csv", mapping=MAPPING, unique=["email"]
        )
        assert job.id is not None
        return job.id


def _activities(engine: Engine, directory: Path) -> ImportActivities:
    # No segment exists, so no batch dispatches anything: no Temporal client is needed.
    return ImportActivities(engine, Client.__new__(Client), "unused", directory)


async def _batch(acts: ImportActivities, job_id: int, cursor: int) -> ImportState:
    state: ImportState = await ActivityEnvironment().run(
        acts.import_batch, ImportBatchInput(job_id=job_id, cursor=cursor, rows=4)
    )
    return state


def _relations(engine: Engine) -> dict[str, Relation]:
    with Session(engine) as session:
        return {str(r.email).lower(): r for r in session.exec(select(Relation)).all()}


def _rows(engine: Engine, job_id: int) -> list[tuple[int, str, int | None, str | None]]:
    with Session(engine) as session:
        rows = session.exec(
            select(ImportRow).where(col(ImportRow.job_id) == job_id).order_by(col(ImportRow.row))
        ).all()
        return [(r.row, r.outcome, r.relation_id, r.error) for r in rows]


async def test_rows_make_update_or_are_refused_and_a_dead_batch_is_redone_whole(
    any_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(any_engine) as session:
        # Known by another spelling of the address, with a custom field of its own.
        session.add(Relation(email="Anna@Example.org", first_name="Ann", custom={"vip": "yes"}))
    job_id = _job(any_engine, tmp_path)
    acts = _activities(any_engine, tmp_path)
    started = await ActivityEnvironment().run(acts.start_import, StartImportInput(job_id=job_id))
    assert (started.status, started.total) == ("running", 6)

    # The worker dies after writing the first batch's relations, before the commit.
    real = imports.apply_rows

    def dies(*args: Any, **kwargs: Any) -> imports.Applied:
        real(*args, **kwargs)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(imports, "apply_rows", dies)
    with pytest.raises(RuntimeError):
        await _batch(acts, job_id, 0)
    assert set(_relations(any_engine)) == {"anna@example.org"}
    assert _rows(any_engine, job_id) == []
    monkeypatch.setattr(imports, "apply_rows", real)

    first = await _batch(acts, job_id, 0)
    assert (first.status, first.cursor, first.new, first.updated, first.invalid) == (
        "running",
        4,
        1,
        2,
        1,
    )
    done = await _batch(acts, job_id, 4)
    assert (done.status, done.cursor, done.new, done.updated, done.invalid) == (
        "finished",
        6,
        2,
        3,
        1,
    )
    # A retry of a batch an earlier attempt committed changes nothing.
    assert await _batch(acts, job_id, 0) == done

    people = _relations(any_engine)
    assert set(people) == {"anna@example.org", "bob@example.org", "cees@example.org"}
    anna, bob, cees = (people[f"{n}@example.org"] for n in ("anna", "bob", "cees"))
    assert (anna.first_name, anna.custom) == ("Anna", {"vip": "yes", "level": "silver"})
    assert (bob.first_name, bob.custom) == ("Robert", {"level": "bronze"})
    assert (cees.first_name, cees.opt_in_email, cees.opt_in_sms) == (None, True, False)
    assert _rows(any_engine, job_id) == [
        (1, "updated", anna.id, None),
        (2, "new", bob.id, None),
        (3, "updated", bob.id, None),
        (4, "invalid", None, "email: takes an email address"),
        (5, "updated", bob.id, None),
        (6, "new", cees.id, None),
    ]
    with Session(any_engine) as session:
        job = session.get(ImportJob, job_id)
        assert job is not None and job.finished_at is not None
        assert job.byte_offset == len(CSV.encode("utf-8-sig"))
        # The relations each import way admits: `updated` only those that were there.
        new = session.exec(select(Relation.id).where(_admits(job_id, "new"))).all()
        updated = session.exec(select(Relation.id).where(_admits(job_id, "updated"))).all()
    assert (set(new), set(updated)) == ({bob.id, cees.id}, {anna.id})


def _admits(job_id: int, outcome: str) -> Any:
    return imports.run_clause({"import_job": job_id, "outcomes": [outcome]})


async def test_a_missing_file_or_column_fails_the_import_saying_why(
    any_engine: Engine, tmp_path: Path
) -> None:
    acts = _activities(any_engine, tmp_path)
    job_id = _job(any_engine, tmp_path, "Email;Naam\r\na@example.org;A\r\n")
    state = await ActivityEnvironment().run(acts.start_import, StartImportInput(job_id=job_id))
    assert state.status == "failed"
    assert state.error == (
        "columns 'E-mail', 'Voornaam', 'Niveau' are not in the file's header "
        "(its first line, 2 cells)"
    )
    # A file without a header: its first line is a person, and the error (kept with the
    # job, shown in Temporal) does not repeat it.
    headless = _job(any_engine, tmp_path, "anna@example.org;Anna;gold\r\n")
    state = await ActivityEnvironment().run(acts.start_import, StartImportInput(job_id=headless))
    assert state.status == "failed" and "anna" not in str(state.error).lower()
    # A quoted cell left open would swallow every row after it: the import fails before
    # any row is written, naming the row.
    open_quote = _job(
        any_engine,
        tmp_path,
        'E-mail;Voornaam;Niveau\r\na@example.org;A;gold\r\nb@example.org;"B;gold\r\n'
        + "".join(f"p{n}@example.org;P;gold\r\n" for n in range(100)),
    )
    state = await ActivityEnvironment().run(acts.start_import, StartImportInput(job_id=open_quote))
    assert (state.status, state.total) == ("failed", 0)
    assert str(state.error).startswith("data row 2: not readable as CSV")
    assert _relations(any_engine) == {}
    with session_scope(any_engine) as session:
        gone = imports.create_job(
            session, name="x.csv", path="../x.csv", mapping=MAPPING, unique=["email"]
        )
    state = await ActivityEnvironment().run(acts.start_import, StartImportInput(job_id=gone.id))
    assert state.error == "'../x.csv' is not a file in the import directory"


async def test_the_step_makes_its_job_once(any_engine: Engine, tmp_path: Path) -> None:
    seeded = seed_trip(any_engine, email="a@example.org")
    acts = _activities(any_engine, tmp_path)
    data = OpenStepImportInput(
        passage=PassageKey(
            trip_id=seeded.trip_id, seq=1, step_id="members", step_type="import", entered_at=ENTERED
        ),
        file="members.csv",
        mapping=MAPPING,
        unique=["email"],
    )
    first = await ActivityEnvironment().run(acts.open_step_import, data)
    again = await ActivityEnvironment().run(acts.open_step_import, data)
    assert again == first and first.state.status == "queued"
    with Session(any_engine) as session:
        assert session.exec(select(func.count()).select_from(ImportJob)).one() == 1
        job = session.get(ImportJob, first.job_id)
        assert job is not None and (job.trip_id, job.step_id) == (seeded.trip_id, "members")
        assert session.get(StepEffect, f"{seeded.trip_id}/members") is not None


def test_an_import_and_an_upsert_of_one_person_take_the_same_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken: list[str] = []
    monkeypatch.setattr(locks, "lock", lambda _session, name: taken.append(name))
    values = {
        "email": "Anna@Example.org",
        "member_number": "AB-1",
        "birth_date": date(1990, 12, 31),
    }
    relation_writes.lock_upsert(None, values)  # type: ignore[arg-type]
    assert taken == [imports.upsert_lock_name(Row(1, values).key(sorted(values)))]
    assert taken[0].startswith('upsert:[["birth_date", "1990-12-31"], ["email", "anna@')


def test_only_segment_changes_a_journey_admits_on_are_left_to_dispatch(
    any_engine: Engine,
) -> None:
    """An import into segments no active journey listens to starts no Dispatch per row;
    entrants of a segment a journey's trigger admits on each get theirs."""
    with session_scope(any_engine) as session:
        for key, level in (("gold", "gold"), ("silver", "silver")):
            condition = {"field": "level", "op": "eq", "value": level}
            session.add(Segment(key=key, name=key, condition=condition))
    add_journey(
        any_engine,
        {
            "name": "Gold welcome",
            "triggers": [{"type": "segment_entry", "segment": "gold"}],
            "steps": [{"id": "done", "type": "exit"}],
        },
    )
    rows = [
        Row(1, {"email": "g@example.org", "level": "gold"}),
        Row(2, {"email": "s@example.org", "level": "silver"}),
    ]
    with session_scope(any_engine) as session:
        job = imports.create_job(
            session, name="m.csv", path="m.csv", mapping=MAPPING, unique=["email"]
        )
        applied = imports.apply_rows(session, job, rows, cause="import:test", now=utcnow())
    with Session(any_engine) as session:
        changes = {
            tuple(c.entered): c
            for c in session.exec(select(SegmentChange).order_by(col(SegmentChange.id))).all()
        }
    assert set(changes) == {("gold",), ("silver",)}
    assert applied.changes == [changes[("gold",)].id]
    assert changes[("gold",)].dispatched_at is None  # its Dispatch will admit
    assert changes[("silver",)].dispatched_at is not None  # nothing would
