"""partial message id index

Deliveries get an SES message id only once sent, and SES events look them up by it. Indexing
only the rows that have one spares the plan an index insert for each of its (up to a million)
new rows.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = sa.text("message_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_deliveries_message_id", table_name="deliveries")
    op.create_index(
        "ix_deliveries_message_id", "deliveries", ["message_id"],
        postgresql_where=WHERE, sqlite_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_message_id", table_name="deliveries")
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"])
