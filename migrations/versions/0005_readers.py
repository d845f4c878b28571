"""readers: tokens, tracking, pause

Retired preferences tokens (still good for one-click unsubscribe), the reader's tracking
opt-out, the end of a pause, and an address change awaiting confirmation.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('subscriber_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_subscriber_tokens_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriber_tokens')),
    sa.UniqueConstraint('token', name=op.f('uq_subscriber_tokens_token'))
    )
    with op.batch_alter_table('subscriber_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriber_tokens_subscriber_id'), ['subscriber_id'], unique=False)

    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tracking', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('new_email', sa.String(length=320), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_column('new_email')
        batch_op.drop_column('paused_until')
        batch_op.drop_column('tracking')

    with op.batch_alter_table('subscriber_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriber_tokens_subscriber_id'))

    op.drop_table('subscriber_tokens')
