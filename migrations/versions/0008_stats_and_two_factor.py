"""stats aggregates and two-factor sign-in

The per-reader aggregates the stats pages read (delivery_outcomes, item_clicks, reader_months),
filled from the events already stored, and the users' TOTP columns.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What webapp.stats.aggregates would have written had it been there when these events came.
BACKFILL_ITEM_CLICKS = """
INSERT INTO item_clicks (delivery_id, item_number, edition_id, clicks, first_clicked_at)
SELECT e.delivery_id, e.item_number, d.edition_id, COUNT(*), MIN(e.occurred_at)
FROM events e JOIN deliveries d ON d.id = e.delivery_id
WHERE e.kind = 'click' AND e.item_number IS NOT NULL AND e.suspected_scanner = :no
GROUP BY e.delivery_id, e.item_number, d.edition_id
"""
BACKFILL_HARD_BOUNCES = """
INSERT INTO delivery_outcomes (delivery_id, edition_id, hard_bounced_at)
SELECT e.delivery_id, d.edition_id, MIN(e.occurred_at)
FROM events e JOIN deliveries d ON d.id = e.delivery_id
WHERE e.kind = 'bounce' AND e.bounce_type = 'Permanent'
GROUP BY e.delivery_id, d.edition_id
"""


def upgrade() -> None:
    op.create_table(
        "reader_months",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("joined", sa.Integer(), nullable=False),
        sa.Column("unsubscribed", sa.Integer(), nullable=False),
        sa.Column("bounced", sa.Integer(), nullable=False),
        sa.Column("complained", sa.Integer(), nullable=False),
        sa.Column("erased", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_reader_months")),
    )
    op.create_table(
        "delivery_outcomes",
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("hard_bounced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_outcomes_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
            name=op.f("fk_delivery_outcomes_edition_id_editions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_delivery_outcomes")),
    )
    with op.batch_alter_table("delivery_outcomes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_outcomes_edition_id"), ["edition_id"], unique=False
        )
    op.create_table(
        "item_clicks",
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("item_number", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("first_clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_item_clicks_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
            name=op.f("fk_item_clicks_edition_id_editions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("delivery_id", "item_number", name=op.f("pk_item_clicks")),
    )
    with op.batch_alter_table("item_clicks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_clicks_edition_id"), ["edition_id"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))

    op.execute(sa.text(BACKFILL_ITEM_CLICKS).bindparams(no=False))
    op.execute(sa.text(BACKFILL_HARD_BOUNCES))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_enabled_at")
        batch_op.drop_column("totp_secret")
    with op.batch_alter_table("item_clicks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_clicks_edition_id"))
    op.drop_table("item_clicks")
    with op.batch_alter_table("delivery_outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_outcomes_edition_id"))
    op.drop_table("delivery_outcomes")
    op.drop_table("reader_months")
