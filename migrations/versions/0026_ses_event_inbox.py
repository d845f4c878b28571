"""SES event inbox

/hooks/ses stores a verified notification with its raw SES message and answers; workers apply
the stored events in batches. The receipt table, keyed by SNS's MessageId, becomes that inbox:
the message, SES's event time and when it was applied. Receipts kept before were applied when
they arrived.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = sa.text("processed_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("sns_receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE sns_receipts SET processed_at = received_at")
    op.create_index(
        "ix_sns_receipts_unprocessed", "sns_receipts", ["id"],
        postgresql_where=WHERE, sqlite_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_sns_receipts_unprocessed", table_name="sns_receipts")
    with op.batch_alter_table("sns_receipts", schema=None) as batch_op:
        batch_op.drop_column("processed_at")
        batch_op.drop_column("occurred_at")
        batch_op.drop_column("message")
