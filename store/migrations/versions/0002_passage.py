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

# PostgreSQL names what the table owns after the table; SQLite keeps only the index name.
_PG_RENAMES = (
    ("SEQUENCE", "{old}_id_seq", "{new}_id_seq"),
    ("INDEX", "{old}_pkey", "{new}_pkey"),
    ("INDEX", "{old}_trip_id_seq_key", "{new}_trip_id_seq_key"),
)


def _rename(old: str, new: str) -> None:
    op.drop_index(f"ix_{old}_trip_id", table_name=old)
    op.rename_table(old, new)
    op.create_index(f"ix_{new}_trip_id", new, ["trip_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for kind, before, after in _PG_RENAMES:
            op.execute(
                f"ALTER {kind} IF EXISTS {before.format(old=old)} "
                f"RENAME TO {after.format(new=new)}"
            )


def upgrade() -> None:
    _rename("trip_step", "passage")


def downgrade() -> None:
    _rename("passage", "trip_step")
