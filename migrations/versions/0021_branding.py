"""branding: the firm's name, logo, colours, footer text and commentary label, set in the console

One row (id 1); an empty column falls back to the environment (ORG_NAME, COMMENTARY_LABEL_ZH, …)
or the built-in palette. The logo is stored as re-encoded here, with its hash for its URL.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'branding',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_name_zh', sa.String(length=120), nullable=True),
        sa.Column('org_name_en', sa.String(length=120), nullable=True),
        sa.Column('primary_colour', sa.String(length=7), nullable=True),
        sa.Column('accent_colour', sa.String(length=7), nullable=True),
        sa.Column('footer_text_zh', sa.Text(), nullable=True),
        sa.Column('footer_text_en', sa.Text(), nullable=True),
        sa.Column('commentary_label_zh', sa.String(length=60), nullable=True),
        sa.Column('commentary_label_en', sa.String(length=60), nullable=True),
        sa.Column('logo', sa.LargeBinary(), nullable=True),
        sa.Column('logo_type', sa.String(length=20), nullable=True),
        sa.Column('logo_width', sa.Integer(), nullable=True),
        sa.Column('logo_height', sa.Integer(), nullable=True),
        sa.Column('logo_hash', sa.String(length=64), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_branding')),
    )


def downgrade() -> None:
    op.drop_table('branding')
