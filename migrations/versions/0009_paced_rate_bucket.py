"""paced rate bucket

The shared sending rate becomes a schedule (the time the next recipient may go) instead of a
list of recent calls: pacing to an even spacing reaches the account's rate, where a window
padded against clock spread could not. The row is transient state, so nothing is carried over.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM rate_buckets"))
    with op.batch_alter_table("rate_buckets") as batch:
        batch.drop_column("window")
        batch.add_column(sa.Column("next_at", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM rate_buckets"))
    with op.batch_alter_table("rate_buckets") as batch:
        batch.drop_column("next_at")
        batch.add_column(sa.Column("window", sa.JSON(), nullable=False, server_default="[]"))
