"""background jobs and the outbox index

`background_jobs` is the transactional outbox: a system mail (confirm, welcome, preferences
link, address change, unsubscribed, password reset, invitation) or the redaction of an erased
reader's outbox files is a row written in the same transaction as the change, done by the
worker with retries. `outbox_files` records which `.eml` file of the outbox transport holds
whose message, so erasure redacts a reader's files without reading the others. Files written
before this revision are indexed once by the worker (an `index_outbox` job, queued here on a
database that has readers already).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('background_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('mail', 'redact_outbox', 'index_outbox', name='job_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('status', sa.Enum('pending', 'done', 'failed', name='job_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_background_jobs_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_background_jobs'))
    )
    with op.batch_alter_table('background_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_background_jobs_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_background_jobs_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('outbox_files',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('written_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('redacted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_outbox_files_delivery_id_deliveries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_outbox_files_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_outbox_files'))
    )
    with op.batch_alter_table('outbox_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_files_subscriber_id'), ['subscriber_id'], unique=False)

    op.execute(
        "INSERT INTO background_jobs (kind, status, attempts, next_attempt_at, created_at, "
        "updated_at) SELECT 'index_outbox', 'pending', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP WHERE EXISTS (SELECT 1 FROM subscribers)"
    )



def downgrade() -> None:
    with op.batch_alter_table('outbox_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_files_subscriber_id'))

    op.drop_table('outbox_files')
    with op.batch_alter_table('background_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_background_jobs_subscriber_id'))
        batch_op.drop_index('ix_background_jobs_status_next_attempt_at')

    op.drop_table('background_jobs')
