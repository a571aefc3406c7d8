"""Start-up checks shared by the long-running commands: database schema, Temporal reachability."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client

from store.db import make_engine
from store.migrate import alembic_config, upgrade
from worker.temporal import connect

log = logging.getLogger("reisplan.startup")


class StartupError(RuntimeError):
    """Something the operator must fix before the command can run; the message says what."""


def display_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases or in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def migrate(url: str) -> None:
    """Bring the database to the current schema, creating a SQLite file's directory."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(url)
    except SQLAlchemyError as error:
        raise StartupError(_unreachable(url, error)) from error


def _unreachable(url: str, error: SQLAlchemyError) -> str:
    first_line = str(error).splitlines()[0] if str(error) else ""
    return f"Cannot use the database {display_url(url)}: {error.__class__.__name__}: {first_line}"


def require_schema_at_head(url: str) -> None:
    """Refuse to run against a database the migrations have not (fully) reached.

    Long-running processes never migrate on their own: with several replicas that would
    race, and a schema change should be a deliberate step (`reisplan migrate`).
    """
    hint = "Run `reisplan migrate` first (with the same REISPLAN_DATABASE_URL)."
    path = sqlite_path(url)
    if path is not None and not path.exists():
        # Connecting would create an empty file and hide the real problem.
        raise StartupError(f"The database file {path} does not exist. {hint}")
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    engine = make_engine(url)
    # Alembic announces its dialect at INFO on every check; only `migrate` should talk.
    alembic_log = logging.getLogger("alembic.runtime.migration")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as error:
        raise StartupError(_unreachable(url, error)) from error
    finally:
        alembic_log.setLevel(level)
        engine.dispose()
    if current != heads:
        have = ", ".join(sorted(current)) or "empty, no migrations applied"
        need = ", ".join(sorted(heads))
        raise StartupError(
            f"The database {display_url(url)} is not at the current schema "
            f"(it is at: {have}; this version needs: {need}). {hint}"
        )


async def connect_with_retry(address: str, namespace: str, wait_seconds: float) -> Client:
    """Connect to Temporal, waiting up to `wait_seconds` for it to come up.

    In docker-compose and `reisplan dev` the server may still be starting when we do.
    """
    deadline = time.monotonic() + wait_seconds
    announced = False
    while True:
        try:
            return await connect(address, namespace)
        except RuntimeError as error:
            if time.monotonic() >= deadline:
                raise StartupError(
                    f"Cannot connect to Temporal at {address} (namespace {namespace}) "
                    f"after {wait_seconds:.0f} s: {error}. Is the server running? "
                    "Set REISPLAN_TEMPORAL_ADDRESS to point elsewhere."
                ) from error
            if not announced:
                log.info("waiting for Temporal at %s ...", address)
                announced = True
            await asyncio.sleep(0.5)
