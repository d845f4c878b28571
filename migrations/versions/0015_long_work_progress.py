"""long work as background jobs: CSV import and export, with progress

Two job kinds (`csv_import`, `csv_export`) and the columns that show how far long work has
gone: `progress_done` is committed with each batch, so a worker that dies goes on from there;
`result` holds an import's counts and skipped rows, or an export's file.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ('mail', 'redact_outbox', 'index_outbox')
NEW_KINDS = (*OLD_KINDS, 'csv_import', 'csv_export')


def _kind(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name='job_kind', native_enum=False, create_constraint=True)


def upgrade() -> None:
    with op.batch_alter_table('background_jobs', schema=None) as batch_op:
        batch_op.alter_column('kind', type_=_kind(NEW_KINDS), existing_type=_kind(OLD_KINDS),
                              existing_nullable=False)
        batch_op.add_column(sa.Column('progress_done', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('progress_total', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('result', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM background_jobs WHERE kind IN ('csv_import', 'csv_export')")
    with op.batch_alter_table('background_jobs', schema=None) as batch_op:
        batch_op.drop_column('result')
        batch_op.drop_column('progress_total')
        batch_op.drop_column('progress_done')
        batch_op.alter_column('kind', type_=_kind(OLD_KINDS), existing_type=_kind(NEW_KINDS),
                              existing_nullable=False)
