"""API keys for /api/v1, and `api` as a source in the consent ledger

Keys are stored as a SHA-256 digest with a visible prefix to find them by, never as the key.
A reader added or changed through the API is recorded in the consent ledger with source `api`:
the CHECK on `consent_records.source` takes the new value (SQLite rebuilds the table for it;
nothing references `consent_records`, so no row elsewhere is touched).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCES = ('form', 'csv', 'admin', 'one-click', 'bounce', 'complaint')
CHECK = 'ck_consent_records_consent_source'


def _sources(values: tuple[str, ...]) -> None:
    """Let `consent_records.source` hold exactly `values`."""
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('consent_records', recreate='always') as batch_op:
            batch_op.drop_constraint(op.f(CHECK), type_='check')
            batch_op.create_check_constraint(op.f(CHECK), sa.column('source').in_(values))
    else:
        op.drop_constraint(op.f(CHECK), 'consent_records', type_='check')
        op.create_check_constraint(op.f(CHECK), 'consent_records', sa.column('source').in_(values))


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_api_keys_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_keys_prefix'))
    )
    _sources((*SOURCES, 'api'))


def downgrade() -> None:
    # Entries the API made keep their place in the ledger, marked as the admin's doing (the
    # key was an admin's): a downgrade must not lose consent history.
    op.execute("UPDATE consent_records SET source = 'admin' WHERE source = 'api'")
    _sources(SOURCES)
    op.drop_table('api_keys')
