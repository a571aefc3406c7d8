"""A 10,000-row import whose worker is killed (SIGKILL) halfway: a new worker resumes
it from the last committed batch, and it ends with no duplicate relations and the counts
the file implies."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from temporalio.testing import WorkflowEnvironment

from activities.contracts.imports import (
    IMPORT_FILE_WORKFLOW,
    ImportFileInput,
    ImportState,
    import_workflow_id,
)
from store import imports
from store.db import session_scope
from store.models import ImportJob, ImportRow, Relation
from tests.support.smtp import SmtpSink
from tests.support.worker_process import kill, start_worker, stop, worker_env

ROWS = 10_000


def _write(path: Path) -> tuple[int, int, int]:
    """Every 10th row repeats an earlier address (an update), every 100th is refused."""
    new = updated = invalid = 0
    lines = ["E-mail;Voornaam"]
    for number in range(1, ROWS + 1):
        if number % 100 == 0:
            lines.append(f"nobody-{number};X")
            invalid += 1
        elif number % 10 == 5:
            lines.append(f"p{number - 4}@example.org;Again{number}")
            updated += 1
        else:
            lines.append(f"p{number}@example.org;P{number}")
            new += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return new, updated, invalid


def _job(engine: Engine, job_id: int) -> ImportJob:
    with Session(engine) as session:
        found = session.get(ImportJob, job_id)
        assert found is not None
        return found


@pytest.mark.slow
async def test_an_import_killed_halfway_resumes_without_duplicates(
    dev_env: WorkflowEnvironment,
    engine: Engine,
    sqlite_url: str,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> None:
    directory = tmp_path / "imports"
    new, updated, invalid = _write(directory / "members.csv")
    task_queue = f"import-crash-{uuid.uuid4().hex[:8]}"
    env = worker_env(
        sqlite_url,
        dev_env.client.service_client.config.target_host,
        task_queue,
        smtp_sink.port,
        REISPLAN_IMPORT_DIR=str(directory),
        # No cached workflows, so no sticky queue: the new worker gets ImportFile's next
        # workflow task at once instead of after the dead worker's sticky timeout (10 s).
        REISPLAN_MAX_CACHED_WORKFLOWS="0",
    )
    with session_scope(engine) as session:
        job_id = imports.create_job(
            session,
            name="members.csv",
            path="members.csv",
            mapping={"E-mail": "email", "Voornaam": "first_name"},
            unique=["email"],
        ).id
    assert job_id is not None
    log = tmp_path / "worker.log"

    first = start_worker(env, log)
    try:
        handle = await dev_env.client.start_workflow(
            IMPORT_FILE_WORKFLOW,
            ImportFileInput(job_id=job_id, name="members.csv"),
            id=import_workflow_id(job_id),
            task_queue=task_queue,
            result_type=ImportState,
        )
        deadline = time.monotonic() + 60
        while _job(engine, job_id).cursor < ROWS // 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        kill(first)
    halfway = _job(engine, job_id)
    assert ROWS // 2 <= halfway.cursor < ROWS, log.read_text()[-3000:]
    assert halfway.status == "running"

    second = start_worker(env, log)
    try:
        state = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        stop(second)

    assert (state.status, state.total, state.cursor) == ("finished", ROWS, ROWS)
    assert (state.new, state.updated, state.invalid) == (new, updated, invalid)
    with Session(engine) as session:
        relations = session.exec(select(func.count()).select_from(Relation)).one()
        addresses = session.exec(select(func.count(func.distinct(col(Relation.email))))).one()
        rows = session.exec(
            select(func.count(), func.count(func.distinct(col(ImportRow.row)))).where(
                col(ImportRow.job_id) == job_id
            )
        ).one()
    assert relations == addresses == new  # nobody twice
    assert tuple(rows) == (ROWS, ROWS)  # every row recorded once
    assert _job(engine, job_id).byte_offset == (directory / "members.csv").stat().st_size
