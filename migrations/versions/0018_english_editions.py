"""English editions: English texts of editions, sections and commentary; the untranslated policy

Every text a reader sees gets an English field: the edition's title, subject, preheader and
intro, each section's name, and an item's commentary (items already had an English title and
summary). `editions.untranslated` says what English readers get for an item without English
text: `omit` (left out) or `marked` (shown in Chinese, marked). `items.english_status` says who
stands behind an item's English text; only `editor` text goes out, so machine drafts can be
stored beside it later. Existing editions become `marked`: their English readers got the
Chinese text before, now marked as such.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, never batch mode: on SQLite a batch recreates the table, and dropping the
# old one with foreign keys on deletes every row that references it (an edition's sections,
# items, deliveries…). SQLite adds and drops these columns in place (3.35+).
STRINGS = (
    ('editions', 'title_en', sa.String(length=200)),
    ('editions', 'subject_en', sa.String(length=300)),
    ('editions', 'preheader_en', sa.String(length=300)),
    ('editions', 'intro_en', sa.Text()),
    ('sections', 'title_en', sa.String(length=100)),
)
# (table, column, CHECK name, values, default): what models.base.str_enum makes.
ENUMS = (
    ('editions', 'untranslated', 'untranslated_policy', ('omit', 'marked'), 'marked'),
    ('items', 'english_status', 'english_status', ('editor', 'machine'), 'editor'),
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == 'sqlite'


def upgrade() -> None:
    for table, column, type_ in STRINGS:
        op.add_column(table, sa.Column(column, type_, server_default='', nullable=False))
    op.add_column('items', sa.Column('commentary_en', sa.Text(), nullable=True))
    for table, column, name, values, default in ENUMS:
        length = max(len(v) for v in values)
        if _sqlite():
            # SQLite cannot add a table constraint, but takes a named column constraint.
            allowed = ', '.join(f"'{v}'" for v in values)
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR({length}) "
                f"DEFAULT '{default}' NOT NULL "
                f"CONSTRAINT ck_{table}_{name} CHECK ({column} IN ({allowed}))"
            )
        else:
            op.add_column(table, sa.Column(column, sa.String(length=length),
                                           server_default=default, nullable=False))
            op.create_check_constraint(
                f'ck_{table}_{name}', table, sa.column(column).in_(values)
            )


def downgrade() -> None:
    columns = [(t, c) for t, c, *_ in ENUMS] + [('items', 'commentary_en')]
    columns += [(t, c) for t, c, _ in STRINGS]
    for table, column in columns:
        if _sqlite():
            op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
        else:
            op.drop_column(table, column)  # its CHECK goes with it
