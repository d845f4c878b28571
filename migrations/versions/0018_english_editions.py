"""English editions: English texts of editions, sections and commentary; the untranslated policy

Every text a reader sees gets an English field: the edition's title, subject, preheader and
intro, each section's name, and an item's commentary (items already had an English title and
summary). `editions.untranslated` says what English readers get for an item without English
text: `omit` (left out) or `marked` (shown in Chinese, marked). `items.english_status` says who
stands behind an item's English text; only `editor` text goes out, so machine drafts can be
stored beside it later. Existing editions become `marked`: their English readers got the
Chinese text before, now marked as such.

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True,
                   length=max(len(v) for v in values))


def upgrade() -> None:
    with op.batch_alter_table('editions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title_en', sa.String(length=200), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('subject_en', sa.String(length=300), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('preheader_en', sa.String(length=300), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('intro_en', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('untranslated', _enum('untranslated_policy', 'omit',
                                                           'marked'),
                                      server_default='marked', nullable=False))
    with op.batch_alter_table('sections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title_en', sa.String(length=100), server_default='',
                                      nullable=False))
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('commentary_en', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('english_status', _enum('english_status', 'editor',
                                                             'machine'),
                                      server_default='editor', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        # The CHECK first: SQLite's batch copy would otherwise keep it on a missing column.
        batch_op.drop_constraint('english_status', type_='check')
        batch_op.drop_column('english_status')
        batch_op.drop_column('commentary_en')
    with op.batch_alter_table('sections', schema=None) as batch_op:
        batch_op.drop_column('title_en')
    with op.batch_alter_table('editions', schema=None) as batch_op:
        batch_op.drop_constraint('untranslated_policy', type_='check')
        batch_op.drop_column('untranslated')
        batch_op.drop_column('intro_en')
        batch_op.drop_column('preheader_en')
        batch_op.drop_column('subject_en')
        batch_op.drop_column('title_en')
