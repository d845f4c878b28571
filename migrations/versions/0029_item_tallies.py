"""clicks per item kept by triggers

The dashboard's clicks per item grouped `item_clicks`, one row per delivery and link a person
followed: its cost grew with the deliveries clicked (65 ms at a million deliveries, so most of a
second at ten million). `item_tallies` holds the same two figures per edition and link — readers
(item_clicks rows) and clicks (their sum) — kept by triggers on `item_clicks`, like the tallies
of 0010 on `deliveries`: every write counts, whatever makes it (the click trigger of 0012, the
recount of a burst found to be a scanner, a delivery, reader or edition deleted with its rows by
ON DELETE CASCADE, TRUNCATE). Erasing a reader keeps their deliveries and clicks (only the
personal data goes), so it changes no figure here either. Existing rows are counted here.

PostgreSQL: statement-level triggers with transition tables write a transaction's deltas to
change rows of its own (`item_tally_changes`), folded into the counters at commit by the same
fold as the other tallies, after them, so every committer locks counter rows in one order (a
popular link's row is as hot as a variant's). Readers add their own transaction's change rows.

SQLite: row-level triggers; the change table exists there too, empty.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIGURES = ("readers", "clicks")


def _revision(filename: str) -> ModuleType:
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(f"yuebao_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tallies() -> ModuleType:
    return _revision("0010_stats_tallies.py")


def _counters() -> ModuleType:
    return _revision("0012_counters_by_triggers.py")


# ---- PostgreSQL ---------------------------------------------------------------------------


def pg_items_function(tallies: ModuleType, op_name: str) -> str:
    changed = tallies.pg_changed(op_name, "edition_id, item_number, clicks")
    return f"""
    CREATE FUNCTION yuebao_tally_items_{op_name.lower()}() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO item_tally_changes AS t (txid, edition_id, item_number, readers, clicks)
        SELECT txid_current(), c.edition_id, c.item_number, SUM(c.sign), SUM(c.sign * c.clicks)
        FROM ({changed}) AS c
        GROUP BY c.edition_id, c.item_number
        HAVING SUM(c.sign) <> 0 OR SUM(c.sign * c.clicks) <> 0
        ORDER BY c.edition_id, c.item_number
        ON CONFLICT (txid, edition_id, item_number) DO UPDATE SET {tallies.pg_add("t", FIGURES)};
        RETURN NULL;
    END $$
    """


PG_TRUNCATE_FUNCTION = """
CREATE FUNCTION yuebao_tally_items_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Every click row is gone (TRUNCATE locks out every other writer meanwhile).
    DELETE FROM item_tally_changes WHERE txid = txid_current();
    DELETE FROM item_tallies;
    RETURN NULL;
END $$
"""

OPERATIONS = (
    ("INSERT", "NEW TABLE AS new_rows"),
    ("UPDATE", "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
    ("DELETE", "OLD TABLE AS old_rows"),
)


def pg_statements(tallies: ModuleType, counters: ModuleType) -> list[str]:
    fold = counters.pg_fold_function(tallies, with_months=True)
    items = tallies.pg_fold("item_tallies", "item_tally_changes", "item_number", FIGURES)
    head, tail = fold.rsplit("RETURN NULL;", 1)
    return [
        *(pg_items_function(tallies, o) for o, _ in OPERATIONS),
        PG_TRUNCATE_FUNCTION,
        f"{head}{items}\n        RETURN NULL;{tail}",  # the fold, items last
        *(
            f"CREATE TRIGGER item_clicks_tally_{o.lower()} AFTER {o} ON item_clicks "
            f"REFERENCING {refs} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION yuebao_tally_items_{o.lower()}()"
            for o, refs in OPERATIONS
        ),
        "CREATE TRIGGER item_clicks_tally_truncate AFTER TRUNCATE ON item_clicks "
        "FOR EACH STATEMENT EXECUTE FUNCTION yuebao_tally_items_truncate()",
        "CREATE CONSTRAINT TRIGGER item_tally_changes_fold AFTER INSERT ON item_tally_changes "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION yuebao_tally_fold()",
    ]


PG_TRIGGER_NAMES = [
    *(("item_clicks", f"item_clicks_tally_{o.lower()}") for o, _ in OPERATIONS),
    ("item_clicks", "item_clicks_tally_truncate"),
    ("item_tally_changes", "item_tally_changes_fold"),
]
PG_FUNCTION_NAMES = [
    *(f"yuebao_tally_items_{o.lower()}" for o, _ in OPERATIONS),
    "yuebao_tally_items_truncate",
]

# ---- SQLite -------------------------------------------------------------------------------


def lite_add(tallies: ModuleType, row: str, sign: str) -> str:
    ensure = "" if sign == "-" else tallies.lite_ensure(
        "item_tallies", "item_number", f"{row}.edition_id", f"{row}.item_number"
    )
    return ensure + (
        f"UPDATE item_tallies SET readers = readers {sign} 1, clicks = clicks {sign} {row}.clicks "
        f"WHERE edition_id = {row}.edition_id AND item_number = {row}.item_number;"
    )


def lite_triggers(tallies: ModuleType) -> list[str]:
    moved = (
        "OLD.clicks IS NOT NEW.clicks OR OLD.edition_id <> NEW.edition_id "
        "OR OLD.item_number <> NEW.item_number"
    )
    return [
        f"""CREATE TRIGGER item_clicks_tally_insert AFTER INSERT ON item_clicks FOR EACH ROW
        BEGIN {lite_add(tallies, "NEW", "+")} END""",
        f"""CREATE TRIGGER item_clicks_tally_update
        AFTER UPDATE OF edition_id, item_number, clicks ON item_clicks FOR EACH ROW
        WHEN {moved} BEGIN {lite_add(tallies, "OLD", "-")} {lite_add(tallies, "NEW", "+")} END""",
        f"""CREATE TRIGGER item_clicks_tally_delete AFTER DELETE ON item_clicks FOR EACH ROW
        BEGIN {lite_add(tallies, "OLD", "-")} END""",
    ]


LITE_TRIGGER_NAMES = ["item_clicks_tally_insert", "item_clicks_tally_update",
                      "item_clicks_tally_delete"]

BACKFILL = """
    INSERT INTO item_tallies (edition_id, item_number, readers, clicks)
    SELECT edition_id, item_number, COUNT(*), SUM(clicks) FROM item_clicks
    GROUP BY edition_id, item_number
"""


def upgrade() -> None:
    op.create_table(
        "item_tallies",
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("item_number", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in FIGURES),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
            name=op.f("fk_item_tallies_edition_id_editions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("edition_id", "item_number", name=op.f("pk_item_tallies")),
    )
    # No foreign key: see edition_tally_changes (0010).
    op.create_table(
        "item_tally_changes",
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("item_number", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in FIGURES),
        sa.PrimaryKeyConstraint(
            "txid", "edition_id", "item_number", name=op.f("pk_item_tally_changes")
        ),
    )
    tallies = _tallies()
    # Triggers before the backfill: on PostgreSQL creating them locks item_clicks against
    # writes until this transaction commits, so no click falls between count and trigger.
    if op.get_bind().dialect.name == "postgresql":
        statements = pg_statements(tallies, _counters())
    else:
        statements = lite_triggers(tallies)
    for statement in [*statements, BACKFILL]:
        op.execute(sa.text(statement))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, name in PG_TRIGGER_NAMES:
            op.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
        for name in PG_FUNCTION_NAMES:
            op.execute(sa.text(f"DROP FUNCTION IF EXISTS {name}()"))
        fold = _counters().pg_fold_function(_tallies(), with_months=True)
        op.execute(sa.text(fold))
    else:
        for name in LITE_TRIGGER_NAMES:
            op.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
    op.drop_table("item_tally_changes")
    op.drop_table("item_tallies")
