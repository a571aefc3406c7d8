"""template versions and pins, send feedback, suppression, journey exits, workspace settings

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 04:30:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("template", sa.Column("mjml", _STR(), nullable=True))
    op.add_column(
        "template", sa.Column("version", sa.Integer(), nullable=False, server_default="1")
    )
    op.create_table(
        "template_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_key", _STR(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subject", _STR(length=500), nullable=False),
        sa.Column("html", _STR(), nullable=False),
        sa.Column("text", _STR(), nullable=True),
        sa.Column("mjml", _STR(), nullable=True),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("template_key", "version"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_template_version_template_key"), "template_version", ["template_key"])
    # Every existing template becomes its version 1 (its links are found at first use:
    # store.templates.version_of fills an empty list it has never looked at).
    op.execute(
        "INSERT INTO template_version (template_key, version, subject, html, text, mjml, "
        "links, created_at) SELECT key, 1, subject, html, text, NULL, '[]', updated_at "
        "FROM template"
    )
    op.create_table(
        "journey_template",
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("journey_version", sa.Integer(), nullable=False),
        sa.Column("template_key", _STR(length=100), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("published_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["journey_id"], ["journey.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("journey_id", "journey_version", "template_key"),
    )
    _pin_existing_versions()

    op.add_column("send", sa.Column("template_version", sa.Integer(), nullable=True))
    op.add_column("send", sa.Column("reason", _STR(length=32), nullable=False, server_default=""))
    op.add_column(
        "send",
        sa.Column("transactional", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("send", sa.Column("sent_at", _TS, nullable=True))
    op.add_column("send", sa.Column("not_before", _TS, nullable=True))
    op.add_column("send", sa.Column("address_hash", _STR(length=64), nullable=True))
    op.create_index(op.f("ix_send_sent_at"), "send", ["sent_at"])
    op.create_index(op.f("ix_send_message_id"), "send", ["message_id"])

    op.create_table(
        "send_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("kind", _STR(length=16), nullable=False),
        sa.Column("link", sa.Integer(), nullable=True),
        sa.Column("machine", sa.Boolean(), nullable=False),
        sa.Column("detail", _STR(length=500), nullable=False),
        sa.Column("dedupe_key", _STR(length=300), nullable=True),
        sa.Column("at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["send_id"], ["send.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_send_feedback_send_id"), "send_feedback", ["send_id"])

    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address_hash", _STR(length=64), nullable=False),
        sa.Column("reason", _STR(length=16), nullable=False),
        sa.Column("detail", _STR(length=500), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_suppression_address_hash"), "suppression", ["address_hash"], unique=True
    )

    op.create_table(
        "journey_exit",
        sa.Column("journey_id", sa.Integer(), nullable=False),
        sa.Column("relation_id", sa.Integer(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["journey_id"], ["journey.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["relation_id"], ["relation.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("journey_id", "relation_id"),
    )
    op.create_table(
        "workspace_setting",
        sa.Column("key", _STR(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def _pin_existing_versions() -> None:
    """Every journey version made before template versions sends what it sent until now,
    version 1: an edit after the upgrade must not reach journeys already active."""
    bind = op.get_bind()
    existing = {key for (key,) in bind.execute(sa.text("SELECT key FROM template"))}
    rows = bind.execute(sa.text("SELECT journey_id, version, definition FROM journey_version"))
    pins = []
    for journey_id, version, definition in rows:
        steps = (json.loads(definition) if isinstance(definition, str) else definition)["steps"]
        keys = {step["template"] for step in steps if step.get("template") in existing}
        pins += [{"journey": journey_id, "version": version, "key": key} for key in sorted(keys)]
    if pins:
        bind.execute(
            sa.text(
                "INSERT INTO journey_template (journey_id, journey_version, template_key, "
                "template_version, published_at) VALUES (:journey, :version, :key, 1, "
                "CURRENT_TIMESTAMP)"
            ),
            pins,
        )


def downgrade() -> None:
    op.drop_table("workspace_setting")
    op.drop_table("journey_exit")
    op.drop_index(op.f("ix_suppression_address_hash"), table_name="suppression")
    op.drop_table("suppression")
    op.drop_index(op.f("ix_send_feedback_send_id"), table_name="send_feedback")
    op.drop_table("send_feedback")
    op.drop_index(op.f("ix_send_message_id"), table_name="send")
    op.drop_index(op.f("ix_send_sent_at"), table_name="send")
    for column in (
        "address_hash",
        "not_before",
        "sent_at",
        "transactional",
        "reason",
        "template_version",
    ):
        op.drop_column("send", column)
    op.drop_table("journey_template")
    op.drop_index(op.f("ix_template_version_template_key"), table_name="template_version")
    op.drop_table("template_version")
    op.drop_column("template", "version")
    op.drop_column("template", "mjml")
