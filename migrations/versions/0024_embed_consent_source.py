"""`embed` as a source in the consent ledger

A reader who subscribes through the embeddable form on the firm's own site is recorded with
source `embed` (and the page's origin in the entry's detail): the CHECK on
`consent_records.source` takes the new value (SQLite rebuilds the table for it; nothing
references `consent_records`, so no row elsewhere is touched).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCES = ('form', 'csv', 'admin', 'one-click', 'bounce', 'complaint', 'api')
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
    _sources((*SOURCES, 'embed'))


def downgrade() -> None:
    # Entries the embedded form made keep their place in the ledger as the subscribe form's
    # (which is what it is, on another page): a downgrade must not lose consent history.
    op.execute("UPDATE consent_records SET source = 'form' WHERE source = 'embed'")
    _sources(SOURCES)
