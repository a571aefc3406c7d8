"""events, segments, segment changes, admission runs; trips say what admitted them

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both databases, as in 0004: batch mode on SQLite copies `trip` and
# drops the original, and the drop would cascade to every passage row.


def upgrade() -> None:
    op.create_table(
        "segment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("condition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_segment_key"), "segment", ["key"], unique=True)

    op.create_table(
        "admission_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("journey_version", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("trigger_index", sa.Integer(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("admission_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("admitted", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["journey_id"], ["journey.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("journey_id", "key"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_admission_run_journey_id"), "admission_run", ["journey_id"], unique=False
    )

    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("relation_id", sa.Integer(), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("relation_created", sa.Boolean(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["relation_id"], ["relation.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_event_relation_id"), "event", ["relation_id"], unique=False)
    op.create_index(op.f("ix_event_type"), "event", ["type"], unique=False)
    op.create_index("ix_event_relation_order", "event", ["relation_id", "id"], unique=False)

    op.create_table(
        "segment_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("relation_id", sa.Integer(), nullable=False),
        sa.Column("entered", sa.JSON(), nullable=False),
        sa.Column("left", sa.JSON(), nullable=False),
        sa.Column("cause", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["relation_id"], ["relation.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_segment_change_relation_id"), "segment_change", ["relation_id"], unique=False
    )

    op.create_table(
        "segment_member",
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("relation_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["relation_id"], ["relation.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["segment_id"], ["segment.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("segment_id", "relation_id"),
    )
    op.create_index(op.f("ix_segment_member_since"), "segment_member", ["since"], unique=False)

    op.add_column(
        "relation",
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    )
    op.add_column(
        "relation",
        sa.Column("email_claim", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    )
    op.create_index(op.f("ix_relation_email_claim"), "relation", ["email_claim"], unique=True)
    op.create_index(op.f("ix_relation_external_id"), "relation", ["external_id"], unique=True)

    op.add_column(
        "trip", sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True)
    )
    op.add_column("trip", sa.Column("event_id", sa.Integer(), nullable=True))
    op.add_column(
        "trip",
        sa.Column("admission_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    )
    op.add_column(
        "trip",
        sa.Column("events_after", sa.Integer(), nullable=True),
    )
    op.create_index(
        "ix_trip_admission", "trip", ["journey_id", "relation_id", "admission_key"], unique=True
    )
    op.create_index(op.f("ix_trip_event_id"), "trip", ["event_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_trip_event_id"), table_name="trip")
    op.drop_index("ix_trip_admission", table_name="trip")
    op.drop_column("trip", "admission_key")
    op.drop_column("trip", "events_after")
    op.drop_column("trip", "event_id")
    op.drop_column("trip", "trigger")

    op.drop_index(op.f("ix_relation_external_id"), table_name="relation")
    op.drop_index(op.f("ix_relation_email_claim"), table_name="relation")
    op.drop_column("relation", "email_claim")
    op.drop_column("relation", "external_id")

    op.drop_index(op.f("ix_segment_member_since"), table_name="segment_member")

    op.drop_table("segment_member")
    op.drop_index(op.f("ix_segment_change_relation_id"), table_name="segment_change")

    op.drop_table("segment_change")
    op.drop_index("ix_event_relation_order", table_name="event")
    op.drop_index(op.f("ix_event_type"), table_name="event")
    op.drop_index(op.f("ix_event_relation_id"), table_name="event")

    op.drop_table("event")
    op.drop_index(op.f("ix_admission_run_journey_id"), table_name="admission_run")

    op.drop_table("admission_run")
    op.drop_index(op.f("ix_segment_key"), table_name="segment")

    op.drop_table("segment")
