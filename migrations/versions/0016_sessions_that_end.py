"""sessions that end: a session version per user, pending two-factor sign-ins

`users.session_version` is part of every console session cookie; raising it (sign-out,
password reset, role change, deactivation, two-factor reset, "sign out everywhere") ends every
session of that user, copies of the cookie included. Cookies made before this revision carry
no version, so everyone signs in once more. `pending_sign_ins` holds each password step that
waits for its two-factor code, with the wrong codes tried so far.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='1',
                                      nullable=False))

    op.create_table('pending_sign_ins',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tries', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_pending_sign_ins_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_sign_ins'))
    )
    with op.batch_alter_table('pending_sign_ins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_sign_ins_started_at'), ['started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_pending_sign_ins_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pending_sign_ins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_sign_ins_user_id'))
        batch_op.drop_index(batch_op.f('ix_pending_sign_ins_started_at'))

    op.drop_table('pending_sign_ins')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
