"""scheduler health on the lease

The scheduler lease said only who holds it. A holder whose APScheduler thread had died kept
renewing it, and the console showed the scheduler as healthy. The holder now writes, at each
renewal, when it took the lease and when one of its jobs last succeeded, so the admin console
can show the scheduler's last tick and flag it when stale.

Both columns are empty until the holder's next renewal (within seconds of the upgrade).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_tick_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.drop_column("last_tick_at")
        batch_op.drop_column("acquired_at")
