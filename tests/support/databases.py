"""Fresh, migrated databases for tests: a SQLite file, or a new PostgreSQL database."""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from store.migrate import upgrade

POSTGRES_ADMIN_URL = os.environ.get(
    "REISPLAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def postgres_required() -> bool:
    return os.environ.get("REISPLAN_REQUIRE_POSTGRES") == "1"


def postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


_template: str | None = None


def _url_of(name: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _migrated_template(admin: Engine) -> str:
    """Migrate once per test run, then copy: CREATE DATABASE ... TEMPLATE is far
    cheaper than running every migration for every test."""
    global _template
    if _template is None:
        name = f"reisplan_template_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        upgrade(_url_of(name))
        atexit.register(_drop, name)
        _template = name
    return _template


def _drop(name: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of an empty database with every migration applied."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'reisplan.db'}"
        upgrade(url)
        yield url
        return
    if not postgres_available():
        if postgres_required():
            pytest.fail(
                "PostgreSQL is required (REISPLAN_REQUIRE_POSTGRES=1) "
                f"but {POSTGRES_ADMIN_URL} is unreachable"
            )
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: PostgreSQL tests skipped")
    name = f"reisplan_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_migrated_template(admin)}"'))
    url = _url_of(name)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
