"""API fixtures: the real app over httpx, a real worker on the session's dev server.

Each test gets a fresh database (SQLite and PostgreSQL) and its own task queue. Journey
ids start at a random offset: trip ids (`trip:{journey}:{relation}:{n}`) and the
`JourneyId` search attribute must not collide with other tests' trips on the shared
Temporal dev server, where workflow ids are remembered for the retention period.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from store.db import make_engine
from store.models import Journey, utcnow
from tests.conftest import make_settings, running_worker
from tests.support.smtp import SmtpSink


def start_journey_ids_at(engine: Engine, first: int) -> None:
    """Make the next journey get id `first` (a placeholder row holds `first - 1`)."""
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            insert(Journey.__table__).values(  # type: ignore[attr-defined]
                id=first - 1,
                name="(test id offset)",
                status="inactive",
                definition={"name": "(test id offset)", "steps": [{"id": "end", "type": "exit"}]},
                created_at=now,
                updated_at=now,
            )
        )
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT setval(pg_get_serial_sequence('journey', 'id'), :last)"),
                {"last": first - 1},
            )


@pytest.fixture
def first_journey_id() -> int:
    return random.randrange(1_000_000, 2_000_000_000)


@pytest.fixture
def api_engine(db_url: str, first_journey_id: int) -> Iterator[Engine]:
    engine = make_engine(db_url)
    start_journey_ids_at(engine, first_journey_id)
    yield engine
    engine.dispose()


@pytest.fixture
def task_queue() -> str:
    return f"api-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def mail_sink_dir() -> Path | None:
    return None


@pytest.fixture
async def api(
    api_engine: Engine, dev_env: WorkflowEnvironment, task_queue: str, mail_sink_dir: Path | None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        engine=api_engine,
        temporal=dev_env.client,
        task_queue=task_queue,
        mail_sink_dir=mail_sink_dir,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://reisplan.test") as client:
        yield client


@pytest.fixture
async def worker(
    dev_env: WorkflowEnvironment,
    api_engine: Engine,
    db_url: str,
    smtp_sink: SmtpSink,
    task_queue: str,
) -> AsyncIterator[Worker]:
    settings = make_settings(db_url, smtp_sink, task_queue=task_queue)
    async with running_worker(dev_env.client, api_engine, settings) as running:
        yield running
