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


def test_the_passage_rename_keeps_every_row_both_ways(db_url: str) -> None:
    """0002 renames trip_step to passage in place: rows (and the id sequence) survive a
    downgrade and an upgrade again."""
    from alembic import command
    from sqlalchemy import text

    from store.migrate import alembic_config, upgrade

    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO journey (name, status, definition, created_at, updated_at) "
                "VALUES ('j', 'draft', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO trip (id, journey_id, journey_version, relation_id, number, "
                "status, current_seq, started_at) VALUES ('trip:1:1:1', "
                "(SELECT max(id) FROM journey), 1, 1, 1, 'running', 1, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO passage (trip_id, seq, step_id, step_type, entered_at, outcome, "
                "detail, recorded_at) VALUES ('trip:1:1:1', 1, 'a', 'wait', "
                "CURRENT_TIMESTAMP, 'waiting', '', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    command.downgrade(alembic_config(db_url), "0001")
    engine = make_engine(db_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM trip_step")).scalar() == 1
    engine.dispose()
    upgrade(db_url)
    engine = make_engine(db_url)
    with engine.begin() as connection:
        assert connection.execute(text("SELECT step_id FROM passage")).scalars().all() == ["a"]
        connection.execute(
            text(
                "INSERT INTO passage (trip_id, seq, step_id, step_type, entered_at, outcome, "
                "detail, recorded_at) VALUES ('trip:1:1:1', 2, 'b', 'exit', "
                "CURRENT_TIMESTAMP, 'exited', '', CURRENT_TIMESTAMP)"
            )
        )
        ids = connection.execute(text("SELECT id FROM passage ORDER BY seq")).scalars().all()
    engine.dispose()
    assert ids[1] > ids[0], "the id sequence did not survive the rename"


def test_journeys_active_before_template_versions_keep_sending_what_they_sent(
    db_url: str,
) -> None:
    """0006: every existing journey version is pinned to version 1 of its templates, so
    an edit after the upgrade reaches only journeys it is published to."""
    from alembic import command
    from sqlalchemy import text

    from store import templates
    from store.migrate import alembic_config, upgrade

    command.downgrade(alembic_config(db_url), "0005")
    engine = make_engine(db_url)
    definition = '{"name": "j", "steps": [{"id": "hi", "type": "send_email", "template": "hi"}]}'
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO template (key, name, subject, html, created_at, updated_at) "
                "VALUES ('hi', 'hi', 'Hi', '<p>old</p>', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO journey (name, status, definition, active_version, created_at, "
                "updated_at) VALUES ('j', 'active', :d, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"d": definition},
        )
        connection.execute(
            text(
                "INSERT INTO journey_version (journey_id, version, definition, digest, "
                "created_at) VALUES ((SELECT max(id) FROM journey), 1, :d, 'x', "
                "CURRENT_TIMESTAMP)"
            ),
            {"d": definition},
        )
    engine.dispose()
    upgrade(db_url)
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        templates.update(session, "hi", {"html": "<p>new</p>"})
    with session_scope(engine) as session:
        journey_id = session.exec(text("SELECT max(id) FROM journey")).scalar()  # type: ignore[call-overload]
        pinned = templates.pinned(session, journey_id, 1, "hi")
        assert pinned is not None and (pinned.version, pinned.html) == (1, "<p>old</p>")
        assert templates.latest(session, "hi").html == "<p>new</p>"  # type: ignore[union-attr]
    engine.dispose()


def test_the_crm_upgrade_keeps_trips_paths_and_memberships(db_url: str) -> None:
    """0007 rebuilds `trip` and `relation_group` (SQLite copies a table to alter it):
    every trip keeps its passages and its number, now counted for the relation it
    admitted, and every group keeps its members."""
    from alembic import command
    from sqlalchemy import text

    from store.migrate import alembic_config, upgrade
    from store.trips import numbers_taken

    command.downgrade(alembic_config(db_url), "0006")
    engine = make_engine(db_url)
    now = "CURRENT_TIMESTAMP"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO relation (email, opt_in_email, opt_in_sms, custom, created_at, "
                f"updated_at) VALUES ('kept@example.org', true, false, '{{}}', {now}, {now})"
            )
        )
        rid = connection.execute(text("SELECT max(id) FROM relation")).scalar()
        connection.execute(
            text(f"INSERT INTO relation_group (key, name, created_at) VALUES ('vip', 'VIP', {now})")
        )
        connection.execute(
            text(
                "INSERT INTO group_member (group_id, relation_id, added_at) VALUES "
                f"((SELECT max(id) FROM relation_group), :r, {now})"
            ),
            {"r": rid},
        )
        connection.execute(
            text(
                "INSERT INTO journey (name, status, definition, created_at, updated_at) "
                f"VALUES ('j', 'draft', '{{}}', {now}, {now})"
            )
        )
        connection.execute(
            text(
                "INSERT INTO trip (id, journey_id, journey_version, relation_id, number, "
                "status, current_seq, started_at) VALUES ('trip:x:1', "
                f"(SELECT max(id) FROM journey), 1, :r, 1, 'running', 1, {now})"
            ),
            {"r": rid},
        )
        connection.execute(
            text(
                "INSERT INTO passage (trip_id, seq, step_id, step_type, entered_at, outcome, "
                f"detail, recorded_at) VALUES ('trip:x:1', 1, 'a', 'wait', {now}, "
                f"'waiting', '', {now})"
            )
        )
    engine.dispose()
    upgrade(db_url)
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        row = session.exec(
            text("SELECT relation_id, admitted_relation_id, number FROM trip")  # type: ignore[call-overload]
        ).one()
        assert tuple(row) == (rid, rid, 1)
        assert session.exec(text("SELECT count(*) FROM passage")).scalar() == 1  # type: ignore[call-overload]
        assert session.exec(text("SELECT count(*) FROM group_member")).scalar() == 1  # type: ignore[call-overload]
        journey_id = session.exec(text("SELECT max(id) FROM journey")).scalar()  # type: ignore[call-overload]
        assert rid is not None and numbers_taken(session, journey_id, rid) == (1, 1)
    engine.dispose()
