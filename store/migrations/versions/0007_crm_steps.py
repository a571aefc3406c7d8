"""the journey works on the CRM: relation-less events and trips, step effects, subgroups,
selection runs, export buckets, CSV imports

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TS = sa.DateTime(timezone=True)
# SQLite's copy of `trip` names its unnamed unique constraint by this, so it can be dropped.
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}
_OLD_UNIQUE = ("journey_id", "relation_id", "number")
_NEW_UNIQUE = ("journey_id", "admitted_relation_id", "number")


def _unique_name(columns: tuple[str, ...]) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "trip_" + "_".join(columns) + "_key"
    return "uq_trip_" + "_".join(columns)


def upgrade() -> None:
    with op.batch_alter_table("event") as batch:
        batch.alter_column("relation_id", existing_type=sa.Integer(), nullable=True)
    op.add_column("trip", sa.Column("admitted_relation_id", sa.Integer(), nullable=True))
    op.execute("UPDATE trip SET admitted_relation_id = relation_id")
    op.drop_index("ix_trip_admission", table_name="trip")
    with op.batch_alter_table("trip", naming_convention=_NAMES) as batch:
        batch.alter_column("relation_id", existing_type=sa.Integer(), nullable=True)
        batch.drop_constraint(_unique_name(_OLD_UNIQUE), type_="unique")
        batch.create_unique_constraint(_unique_name(_NEW_UNIQUE), list(_NEW_UNIQUE))
        batch.create_index(op.f("ix_trip_admitted_relation_id"), ["admitted_relation_id"])
    op.create_index(
        "ix_trip_admission",
        "trip",
        ["journey_id", "admitted_relation_id", "admission_key"],
        unique=True,
    )
    with op.batch_alter_table("relation_group") as batch:
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_relation_group_parent", "relation_group", ["parent_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index(op.f("ix_relation_group_parent_id"), ["parent_id"])
    op.add_column("admission_run", sa.Column("start_at", _STR(length=64), nullable=True))
    op.create_table(
        "run_member",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("relation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["admission_run.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "relation_id"),
    )
    op.create_index(op.f("ix_run_member_relation_id"), "run_member", ["relation_id"])
    op.create_table(
        "step_effect",
        sa.Column("key", _STR(length=200), nullable=False),
        sa.Column("trip_id", _STR(length=200), nullable=True),
        sa.Column("step_id", _STR(length=64), nullable=False),
        sa.Column("kind", _STR(length=32), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_step_effect_trip_id"), "step_effect", ["trip_id"])
    op.create_table(
        "named_lock",
        sa.Column("name", _STR(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "export_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("step_id", _STR(length=64), nullable=False),
        sa.Column("bucket", _STR(length=64), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("path", _STR(length=500), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["journey_id"], ["journey.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("journey_id", "step_id", "bucket", "part"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_export_file_journey_id"), "export_file", ["journey_id"])
    op.create_table(
        "export_line",
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("step_id", _STR(length=64), nullable=False),
        sa.Column("trip_id", _STR(length=200), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["export_file.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("journey_id", "step_id", "trip_id"),
    )
    op.create_index(op.f("ix_export_line_file_id"), "export_line", ["file_id"])
    op.create_table(
        "import_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _STR(length=200), nullable=False),
        sa.Column("status", _STR(length=16), nullable=False),
        sa.Column("path", _STR(length=500), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("unique", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("byte_offset", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("error", _STR(length=1000), nullable=True),
        sa.Column("trip_id", _STR(length=200), nullable=True),
        sa.Column("step_id", _STR(length=64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_import_job_trip_id"), "import_job", ["trip_id"])
    op.create_table(
        "import_row",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("relation_id", sa.Integer(), nullable=True),
        sa.Column("outcome", _STR(length=16), nullable=False),
        sa.Column("error", _STR(length=500), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["import_job.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "row"),
    )
    op.create_index(op.f("ix_import_row_relation_id"), "import_row", ["relation_id"])


def downgrade() -> None:
    op.drop_table("import_row")
    op.drop_table("import_job")
    op.drop_table("export_line")
    op.drop_table("export_file")
    op.drop_table("named_lock")
    op.drop_table("step_effect")
    op.drop_table("run_member")
    op.drop_column("admission_run", "start_at")
    with op.batch_alter_table("relation_group") as batch:
        batch.drop_index(op.f("ix_relation_group_parent_id"))
        batch.drop_constraint("fk_relation_group_parent", type_="foreignkey")
        batch.drop_column("parent_id")
    # Trips and events without a relation cannot exist before this revision; a trip that
    # a step gave another relation goes back to the one admitted.
    op.execute("UPDATE trip SET admitted_relation_id = relation_id WHERE admitted_relation_id IS NULL")
    op.execute("DELETE FROM trip WHERE admitted_relation_id IS NULL")
    op.execute("DELETE FROM event WHERE relation_id IS NULL")
    op.execute("UPDATE trip SET relation_id = admitted_relation_id")
    op.drop_index("ix_trip_admission", table_name="trip")
    with op.batch_alter_table("trip", naming_convention=_NAMES) as batch:
        batch.drop_index(op.f("ix_trip_admitted_relation_id"))
        batch.drop_constraint(_unique_name(_NEW_UNIQUE), type_="unique")
        batch.create_unique_constraint(_unique_name(_OLD_UNIQUE), list(_OLD_UNIQUE))
        batch.alter_column("relation_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("admitted_relation_id")
    op.create_index(
        "ix_trip_admission", "trip", ["journey_id", "relation_id", "admission_key"], unique=True
    )
    with op.batch_alter_table("event") as batch:
        batch.alter_column("relation_id", existing_type=sa.Integer(), nullable=False)
