"""edition layout: full, digest, or automatic (digest above ten items for the reader)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VALUES = ('auto', 'full', 'digest')


def _sqlite() -> bool:
    return op.get_bind().dialect.name == 'sqlite'


def upgrade() -> None:
    # In place, never batch mode for editions (see 0018): recreating the table on SQLite would
    # delete its sections, items and deliveries.
    if _sqlite():
        # SQLite cannot add a table constraint, but takes a named column constraint.
        allowed = ', '.join(f"'{v}'" for v in VALUES)
        op.execute(
            "ALTER TABLE editions ADD COLUMN layout VARCHAR(6) DEFAULT 'auto' NOT NULL "
            f"CONSTRAINT ck_editions_edition_layout CHECK (layout IN ({allowed}))"
        )
    else:
        op.add_column('editions', sa.Column('layout', sa.String(length=6),
                                            server_default='auto', nullable=False))
        op.create_check_constraint(
            'ck_editions_edition_layout', 'editions', sa.column('layout').in_(VALUES)
        )


def downgrade() -> None:
    if _sqlite():
        op.execute('ALTER TABLE editions DROP COLUMN layout')
    else:
        op.drop_column('editions', 'layout')  # its CHECK goes with it
