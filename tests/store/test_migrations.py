"""The migrations build exactly the tables the code uses, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from store.db import make_engine, session_scope
from store.models import Relation


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_an_erased_relations_id_is_never_given_to_someone_else(db_url: str) -> None:
    # Trips refer to relations by id only; a reused id would hand the erased person's
    # parked trips (and their mail) to a new person.
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        first = Relation(email="erase-me@example.org")
        session.add(first)
        session.flush()
        erased_id = first.id
    with session_scope(engine) as session:
        session.delete(session.get(Relation, erased_id))
    with session_scope(engine) as session:
        newcomer = Relation(email="newcomer@example.org")
        session.add(newcomer)
        session.flush()
        assert newcomer.id != erased_id
    engine.dispose()
