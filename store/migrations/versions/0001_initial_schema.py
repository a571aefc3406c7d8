"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 21:47:58.496548
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('journey',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('active_version', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_table('relation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('first_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('last_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('opt_in_email', sa.Boolean(), nullable=False),
    sa.Column('opt_in_sms', sa.Boolean(), nullable=False),
    sa.Column('custom', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('relation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_relation_email'), ['email'], unique=False)

    op.create_table('relation_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('relation_group', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_relation_group_key'), ['key'], unique=True)

    op.create_table('template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('html', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_template_key'), ['key'], unique=True)

    op.create_table('group_member',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('relation_id', sa.Integer(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['relation_group.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['relation_id'], ['relation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'relation_id')
    )
    op.create_table('journey_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('journey_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['journey_id'], ['journey.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('journey_id', 'version'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('journey_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journey_version_journey_id'), ['journey_id'], unique=False)

    op.create_table('trip',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('journey_id', sa.Integer(), nullable=False),
    sa.Column('journey_version', sa.Integer(), nullable=False),
    sa.Column('relation_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('current_step', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('current_seq', sa.Integer(), nullable=False),
    sa.Column('waiting_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['journey_id'], ['journey.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('journey_id', 'relation_id', 'number')
    )
    with op.batch_alter_table('trip', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trip_journey_id'), ['journey_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trip_relation_id'), ['relation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trip_status'), ['status'], unique=False)

    op.create_table('send',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('trip_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('step_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('relation_id', sa.Integer(), nullable=False),
    sa.Column('journey_id', sa.Integer(), nullable=False),
    sa.Column('template', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['trip_id'], ['trip.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_send_journey_id'), ['journey_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_send_relation_id'), ['relation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_send_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_send_trip_id'), ['trip_id'], unique=False)

    op.create_table('trip_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trip_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('step_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('step_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('waiting_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['trip_id'], ['trip.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('trip_id', 'seq'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('trip_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trip_step_trip_id'), ['trip_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('trip_step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trip_step_trip_id'))

    op.drop_table('trip_step')
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_send_trip_id'))
        batch_op.drop_index(batch_op.f('ix_send_status'))
        batch_op.drop_index(batch_op.f('ix_send_relation_id'))
        batch_op.drop_index(batch_op.f('ix_send_journey_id'))

    op.drop_table('send')
    with op.batch_alter_table('trip', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trip_status'))
        batch_op.drop_index(batch_op.f('ix_trip_relation_id'))
        batch_op.drop_index(batch_op.f('ix_trip_journey_id'))

    op.drop_table('trip')
    with op.batch_alter_table('journey_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journey_version_journey_id'))

    op.drop_table('journey_version')
    op.drop_table('group_member')
    with op.batch_alter_table('template', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_template_key'))

    op.drop_table('template')
    with op.batch_alter_table('relation_group', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_relation_group_key'))

    op.drop_table('relation_group')
    with op.batch_alter_table('relation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_relation_email'))

    op.drop_table('relation')
    op.drop_table('journey')
