"""Locks by name, held until the end of the caller's transaction.

Used where a read decides a write and two transactions must not both decide: two upserts
of the same person (by the values of their unique fields) would both find nobody and
both create. The name is hashed, so the lock table holds no personal data.

PostgreSQL: the row is inserted if missing, then locked FOR UPDATE; a second transaction
waits for the first to end. SQLite: the insert makes the transaction a writer at once,
and SQLite has one writer at a time, so the second waits there (before its first read,
so it then sees what the first committed).
"""

from __future__ import annotations

import hashlib

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from store.models import NamedLock


def lock(session: Session, name: str) -> None:
    """Take the lock `name` for the rest of the caller's transaction. Call it before
    the reads it guards."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.exec(insert(NamedLock).values(name=digest).on_conflict_do_nothing())
    if dialect == "postgresql":
        session.exec(select(NamedLock.name).where(col(NamedLock.name) == digest).with_for_update())
