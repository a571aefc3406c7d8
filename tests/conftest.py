"""Shared fixtures: real Temporal servers, a real SMTP sink, real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from store.db import make_engine
from tests.api.support import TEST_SIGNING_KEY
from tests.support.databases import fresh_database, postgres_available, postgres_required
from tests.support.rendering import shared_render_pool
from tests.support.smtp import SmtpSink
from tests.support.temporal import start_dev_server, start_time_skipping
from worker.settings import Settings
from worker.worker import Workers, build_smtp_pool, build_worker


def pytest_report_header(config: pytest.Config) -> str:
    if postgres_available():
        return "PostgreSQL: reachable, tests run on SQLite and PostgreSQL"
    if postgres_required():
        return (
            "PostgreSQL: NOT reachable and required (REISPLAN_REQUIRE_POSTGRES=1): they will fail"
        )
    return "PostgreSQL: NOT reachable: the PostgreSQL variants of the tests will be SKIPPED"


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database("sqlite", tmp_path) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Runs the test once per database; PostgreSQL is skipped (or failed in CI) if absent."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(smtp_sink: SmtpSink, sqlite_url: str) -> Settings:
    return make_settings(sqlite_url, smtp_sink)


def make_settings(database_url: str, smtp: SmtpSink, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_pool_size=4,
        mail_from="Reisplan Test <journeys@example.org>",
        mail_domain="test.reisplan.example",
        # Given, so no test writes a key file into the working directory.
        secret_key=TEST_SIGNING_KEY.decode(),
    )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: a wait of weeks passes in milliseconds."""
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (visibility, batch operations), in memory, new for every test:
    each test's database numbers journeys and relations from 1, so trip ids would
    collide on a shared server. It starts in well under a second."""
    env = await start_dev_server()
    yield env
    await env.shutdown()


@asynccontextmanager
async def running_worker(
    client: Client, engine: Engine, settings: Settings
) -> AsyncIterator[Workers]:
    smtp = build_smtp_pool(settings)
    worker = build_worker(client, engine, settings, smtp, shared_render_pool())
    try:
        async with worker:
            yield worker
    finally:
        await smtp.close()
