"""trip_step is called passage: one word for a row of a trip's path

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What PostgreSQL named after the table in 0001 (checked against a migrated database);
# renamed in place: no index is rebuilt, no row rewritten.
_PG_OWNED = (
    ("SEQUENCE", "{}_id_seq"),
    ("INDEX", "{}_pkey"),
    ("INDEX", "{}_trip_id_seq_key"),
    ("INDEX", "ix_{}_trip_id"),
)


def _rename(old: str, new: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.rename_table(old, new)
        for kind, name in _PG_OWNED:
            op.execute(f"ALTER {kind} {name.format(old)} RENAME TO {name.format(new)}")
        op.execute(
            f"ALTER TABLE {new} RENAME CONSTRAINT {old}_trip_id_fkey TO {new}_trip_id_fkey"
        )
        return
    # SQLite renames the table (its sqlite_sequence entry included); an index keeps its
    # name, so it is made again under the new one.
    op.drop_index(f"ix_{old}_trip_id", table_name=old)
    op.rename_table(old, new)
    op.create_index(f"ix_{new}_trip_id", new, ["trip_id"], unique=False)


def upgrade() -> None:
    _rename("trip_step", "passage")


def downgrade() -> None:
    _rename("passage", "trip_step")
