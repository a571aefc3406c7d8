"""A worker killed with SIGKILL in the middle of trips: a new one finishes them all,
and no relation gets a mail twice."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select
from temporalio.testing import WorkflowEnvironment

from store.db import session_scope
from store.models import Send, Trip
from tests.support.smtp import SmtpSink
from tests.support.worker_process import kill, start_worker, stop, worker_env
from tests.workflows.support import add_journey, add_relation, add_template, start_trip

TRIPS = 40


def _count(engine: Engine, model: type[Trip] | type[Send], **where: str) -> int:
    with session_scope(engine) as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.exec(query).one())


@pytest.mark.slow
async def test_killed_worker_loses_no_trip_and_sends_no_mail_twice(
    dev_env: WorkflowEnvironment,
    engine: Engine,
    sqlite_url: str,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> None:
    task_queue = f"crash-{uuid.uuid4().hex[:8]}"
    env = worker_env(
        sqlite_url,
        dev_env.client.service_client.config.target_host,
        task_queue,
        smtp_sink.port,
        REISPLAN_MAIL_DOMAIN="crash.reisplan.example",
    )
    add_template(engine, "hello", "Hello", "<p>hello</p>")
    add_template(engine, "again", "Again", "<p>again</p>")
    journey = add_journey(
        engine,
        {
            "name": "Crash test",
            "steps": [
                {"id": "hello", "type": "send_email", "template": "hello"},
                {"id": "pause", "type": "wait", "duration": "PT3S"},
                {"id": "again", "type": "send_email", "template": "again"},
            ],
        },
    )
    relations = [add_relation(engine, email=f"r{i}@example.org") for i in range(TRIPS)]
    log = tmp_path / "worker.log"

    first = start_worker(env, log)
    try:
        for relation_id in relations:
            await start_trip(dev_env.client, engine, task_queue, journey, relation_id)
        deadline = time.monotonic() + 60
        while len(smtp_sink.messages) < TRIPS // 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert len(smtp_sink.messages) >= TRIPS // 2, log.read_text()[-3000:]
    finally:
        kill(first)
    killed_at = len(smtp_sink.messages)
    assert killed_at < 2 * TRIPS, "the worker must die mid-run for this test to mean anything"

    second = start_worker(env, log)
    try:
        deadline = time.monotonic() + 120
        while _count(engine, Trip, status="completed") < TRIPS and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        stop(second)

    assert _count(engine, Trip, status="completed") == TRIPS, log.read_text()[-3000:]
    received = Counter((str(m["To"]), str(m["Subject"])) for m in smtp_sink.messages)
    assert max(received.values()) == 1, "a relation got the same mail twice"
    sent = _count(engine, Send, status="sent")
    uncertain = _count(engine, Send, status="uncertain")
    # Every send is accounted for: delivered exactly once, or (if the kill hit the SMTP
    # transaction itself) recorded as uncertain instead of being risked twice.
    assert sent + uncertain == 2 * TRIPS
    assert len(smtp_sink.messages) >= sent
    assert len(smtp_sink.messages) <= sent + uncertain
