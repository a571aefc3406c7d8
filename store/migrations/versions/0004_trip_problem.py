"""trip.problem: a running trip whose workflow task keeps failing says so

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both databases (SQLite >= 3.35 drops columns in place). Not
# batch mode: on SQLite that copies `trip` and drops the original, and the drop would
# cascade to every passage row.


def upgrade() -> None:
    op.add_column(
        "trip", sa.Column("problem", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("trip", "problem")
