"""A large admission (a segment's current members at activation) survives SIGKILL of
its worker: the next worker resumes it, nobody is admitted twice, nobody left out."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from activities.admission_runs import members_run, start_run
from store import journeys
from store.db import session_scope
from store.models import AdmissionRun, Relation, Segment, SegmentMember, Trip
from tests.support.smtp import SmtpSink
from tests.support.worker_process import kill, start_worker, stop, worker_env
from tests.workflows.support import add_journey

MEMBERS = 400


def _members(engine: Engine, count: int) -> None:
    with session_scope(engine) as session:
        segment = Segment(key="members", name="Members", condition={"in_group": "x"})
        session.add(segment)
        people = [Relation(email=f"m{i}@example.org") for i in range(count)]
        session.add_all(people)
        session.flush()
        assert segment.id is not None
        session.add_all(
            SegmentMember(segment_id=segment.id, relation_id=p.id)
            for p in people
            if p.id is not None
        )


def _run(engine: Engine) -> AdmissionRun:
    with Session(engine) as session:
        run = session.exec(select(AdmissionRun)).one()
        return run


@pytest.mark.slow
async def test_a_killed_worker_mid_run_admits_nobody_twice_and_nobody_is_left_out(
    dev_env: WorkflowEnvironment,
    engine: Engine,
    sqlite_url: str,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> None:
    task_queue = f"run-{uuid.uuid4().hex[:8]}"
    env = worker_env(
        sqlite_url,
        dev_env.client.service_client.config.target_host,
        task_queue,
        smtp_sink.port,
    )
    _members(engine, MEMBERS)
    # Trips park on a timer: what is measured is admission, not mail.
    journey_id, _ = add_journey(
        engine,
        {
            "name": "Members",
            "triggers": [{"type": "segment_entry", "segment": "members"}],
            "steps": [{"id": "later", "type": "wait", "duration": "P1D"}],
        },
    )
    with Session(engine, expire_on_commit=False) as session:
        (run,) = members_run(session, journeys.get(session, journey_id))
    assert run.id is not None and run.total == MEMBERS
    log = tmp_path / "worker.log"

    first = start_worker(env, log)
    try:
        await start_run(dev_env.client, task_queue, run.id)
        deadline = time.monotonic() + 60
        while _trips(engine) < MEMBERS // 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        kill(first)
    killed_at = _trips(engine)
    assert MEMBERS // 4 <= killed_at < MEMBERS, "the worker must die mid-run"

    second = start_worker(env, log)
    try:
        deadline = time.monotonic() + 120
        while _run(engine).status != "finished" and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        stop(second)

    finished = _run(engine)
    assert finished.status == "finished", log.read_text()[-3000:]
    assert (finished.admitted, finished.skipped) == (MEMBERS, 0)
    with Session(engine) as session:
        per_relation = session.exec(
            select(Trip.relation_id, func.count()).group_by(col(Trip.relation_id))
        ).all()
    assert len(per_relation) == MEMBERS, "somebody was left out"
    assert max(count for _, count in per_relation) == 1, "somebody was admitted twice"
    # Every trip row has its workflow: one whose start the kill cut off was started when
    # the page was retried (visibility lags a little behind).
    query = "WorkflowType = 'Trip' AND ExecutionStatus = 'Running'"
    for _ in range(100):
        running = (await dev_env.client.count_workflows(query)).count
        if running == MEMBERS:
            break
        await asyncio.sleep(0.1)
    assert running == MEMBERS


def _trips(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Trip)).one())
