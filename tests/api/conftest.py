"""API fixtures: the real app over httpx, a real worker on a real dev server.

Each test gets a fresh database (SQLite and PostgreSQL), its own dev server (the `dev_env`
fixture) and its own task queue, so trip ids never collide between tests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from store.db import make_engine
from tests.api.support import keyed_client, make_app, new_key
from tests.conftest import make_settings, running_worker
from tests.support.smtp import SmtpSink
from worker.worker import Workers


@pytest.fixture
def api_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
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
    """The API as an admin key sees it: tests of what a scope may do make their own keys."""
    app = make_app(
        engine=api_engine,
        temporal=dev_env.client,
        task_queue=task_queue,
        mail_sink_dir=mail_sink_dir,
    )
    async with keyed_client(app, new_key(api_engine)) as client:
        yield client


@pytest.fixture
async def worker(
    dev_env: WorkflowEnvironment,
    api_engine: Engine,
    db_url: str,
    smtp_sink: SmtpSink,
    task_queue: str,
) -> AsyncIterator[Workers]:
    settings = make_settings(db_url, smtp_sink, task_queue=task_queue)
    async with running_worker(dev_env.client, api_engine, settings) as running:
        yield running
