"""translation drafts: which edition texts are machine drafts, and the job that drafts them

`editions.english_drafts` lists the edition's English texts (and sections' English names) that
are machine drafts from Amazon Translate, not yet accepted by an editor; items mark theirs with
`english_status = machine` (0018). The drafting runs in the worker as a `translate` job.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ('mail', 'redact_outbox', 'index_outbox', 'csv_import', 'csv_export')
NEW_KINDS = (*OLD_KINDS, 'translate')
EDITION_TEXTS = ('title_en', 'subject_en', 'preheader_en', 'intro_en')


def _kind(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name='job_kind', native_enum=False, create_constraint=True)


def upgrade() -> None:
    # A plain ADD COLUMN, never batch mode for editions: on SQLite a batch recreates the table,
    # and dropping the old one would delete its sections, items and deliveries (see 0018).
    op.add_column('editions', sa.Column('english_drafts', sa.JSON(none_as_null=True),
                                        nullable=True))
    # Nothing references background_jobs, so batch mode (as 0015) may recreate it on SQLite.
    with op.batch_alter_table('background_jobs', schema=None) as batch_op:
        batch_op.alter_column('kind', type_=_kind(NEW_KINDS), existing_type=_kind(OLD_KINDS),
                              existing_nullable=False)


def downgrade() -> None:
    op.execute("DELETE FROM background_jobs WHERE kind = 'translate'")
    with op.batch_alter_table('background_jobs', schema=None) as batch_op:
        batch_op.alter_column('kind', type_=_kind(OLD_KINDS), existing_type=_kind(NEW_KINDS),
                              existing_nullable=False)
    # Items keep their drafts (0018 knows `machine`); the edition's drafted texts would pass
    # for an editor's once the column is gone, so they are emptied first.
    bind = op.get_bind()
    editions = sa.table('editions', sa.column('id', sa.Integer),
                        sa.column('english_drafts', sa.JSON(none_as_null=True)),
                        *(sa.column(name, sa.String) for name in EDITION_TEXTS))
    sections = sa.table('sections', sa.column('edition_id', sa.Integer),
                        sa.column('key', sa.String), sa.column('title_en', sa.String))
    drafted = bind.execute(sa.select(editions.c.id, editions.c.english_drafts)
                           .where(editions.c.english_drafts.is_not(None))).all()
    for edition_id, names in drafted:
        texts = {name: '' for name in names or () if name in EDITION_TEXTS}
        if texts:
            bind.execute(editions.update().where(editions.c.id == edition_id).values(**texts))
        for name in names or ():
            if name.startswith('section:'):
                bind.execute(sections.update()
                             .where(sections.c.edition_id == edition_id,
                                    sections.c.key == name.removeprefix('section:'))
                             .values(title_en=''))
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE editions DROP COLUMN english_drafts')
    else:
        op.drop_column('editions', 'english_drafts')
