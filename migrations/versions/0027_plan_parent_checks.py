"""deliveries' parents checked once per statement, not once per row (PostgreSQL)

A plan inserts one delivery per reader in one INSERT … SELECT. The two foreign keys of
`deliveries` (edition, subscriber) each ran a check per inserted row: a query that locks the
parent row (FOR KEY SHARE). Ten million readers meant twenty million such queries, and the
subscriber locks, taken in the plan's variant order, walked the whole readers table once per
variant, writing each of its pages back every time: at one million readers the two checks were
~40% of the plan, and they grew faster than the list.

On PostgreSQL the two constraints become statement-level triggers with the same guarantees:

- insert (or a change of edition or reader): the statement's new rows are checked in one
  anti-join against `subscribers` and `editions`; a missing parent raises foreign_key_violation
  (SQLSTATE 23503), as the constraint did. The editions are locked FOR KEY SHARE, as the
  constraint locked them (one row per edition, not one per delivery). Readers are not locked
  row by row: the statement takes a shared transaction-level advisory lock instead, and deleting
  readers takes it exclusively before removing their deliveries, so a reader deleted while a plan
  is in flight either loses the deliveries the plan wrote (the delete waits for the plan's commit,
  then removes them) or makes the plan fail (the delete committed first): never a delivery
  without its reader. Readers are deleted only by the purge of unconfirmed ones, which no plan
  takes, so that wait is rare and at most one plan long.
- delete of an edition or a reader: their deliveries go in one DELETE per statement
  (ON DELETE CASCADE, as before). The deliveries' own triggers (the tallies, outcomes first)
  run as they did under the cascade.

SQLite keeps the constraints (one writer at a time; its plans are small).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The advisory lock a plan shares and a readers' delete takes alone (any fixed 64-bit number;
# this one is 'yuebao:deliveries:subscribers' hashed, so no other lock of the app uses it).
READERS_LOCK = 7_412_365_390_152_317_733

def _raise(column: str, table: str, value: str) -> str:
    return f"""RAISE EXCEPTION 'insert or update on table "deliveries" violates foreign key '
            'constraint "fk_deliveries_{column}_{table}"'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'deliveries',
                  CONSTRAINT = 'fk_deliveries_{column}_{table}',
                  DETAIL = format('Key ({column})=(%s) is not present in table "{table}".',
                                  {value});"""


PG_FUNCTIONS = [
    f"""
CREATE FUNCTION yuebao_deliveries_parents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent bigint;
BEGIN
    PERFORM pg_advisory_xact_lock_shared({READERS_LOCK});
    SELECT n.subscriber_id INTO parent FROM new_rows AS n
    WHERE NOT EXISTS (SELECT 1 FROM subscribers AS s WHERE s.id = n.subscriber_id) LIMIT 1;
    IF FOUND THEN
        {_raise("subscriber_id", "subscribers", "parent")}
    END IF;
    -- As the constraint did: the editions cannot go before this transaction ends.
    FOR parent IN SELECT DISTINCT edition_id FROM new_rows ORDER BY 1 LOOP
        PERFORM 1 FROM editions WHERE id = parent FOR KEY SHARE;
        IF NOT FOUND THEN
            {_raise("edition_id", "editions", "parent")}
        END IF;
    END LOOP;
    RETURN NULL;
END $$
""",
    f"""
CREATE FUNCTION yuebao_delivery_reparented() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({READERS_LOCK});
    PERFORM 1 FROM subscribers WHERE id = NEW.subscriber_id;
    IF NOT FOUND THEN
        {_raise("subscriber_id", "subscribers", "NEW.subscriber_id")}
    END IF;
    PERFORM 1 FROM editions WHERE id = NEW.edition_id FOR KEY SHARE;
    IF NOT FOUND THEN
        {_raise("edition_id", "editions", "NEW.edition_id")}
    END IF;
    RETURN NULL;
END $$
""",
    f"""
CREATE FUNCTION yuebao_subscribers_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Waits for plans in flight, so their deliveries are seen and removed too.
    PERFORM pg_advisory_xact_lock({READERS_LOCK});
    DELETE FROM deliveries WHERE subscriber_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$
""",
    """
CREATE FUNCTION yuebao_editions_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deliveries WHERE edition_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$
""",
]
PG_FUNCTION_NAMES = [
    "yuebao_deliveries_parents",
    "yuebao_delivery_reparented",
    "yuebao_subscribers_deleted",
    "yuebao_editions_deleted",
]
PG_TRIGGERS = [
    "CREATE TRIGGER deliveries_parents_insert AFTER INSERT ON deliveries "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION yuebao_deliveries_parents()",
    # Row by row, but only for a row whose edition or reader changes (nothing does today): the
    # workers' many UPDATEs of deliveries pay only the WHEN test.
    "CREATE TRIGGER deliveries_parents_update AFTER UPDATE OF edition_id, subscriber_id "
    "ON deliveries FOR EACH ROW WHEN (OLD.edition_id IS DISTINCT FROM NEW.edition_id "
    "OR OLD.subscriber_id IS DISTINCT FROM NEW.subscriber_id) "
    "EXECUTE FUNCTION yuebao_delivery_reparented()",
    "CREATE TRIGGER subscribers_deliveries_cascade AFTER DELETE ON subscribers "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION yuebao_subscribers_deleted()",
    "CREATE TRIGGER editions_deliveries_cascade AFTER DELETE ON editions "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION yuebao_editions_deleted()",
]
PG_TRIGGER_NAMES = [
    ("deliveries", "deliveries_parents_insert"),
    ("deliveries", "deliveries_parents_update"),
    ("subscribers", "subscribers_deliveries_cascade"),
    ("editions", "editions_deliveries_cascade"),
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_constraint("fk_deliveries_subscriber_id_subscribers", "deliveries", type_="foreignkey")
    op.drop_constraint("fk_deliveries_edition_id_editions", "deliveries", type_="foreignkey")
    for statement in [*PG_FUNCTIONS, *PG_TRIGGERS]:
        op.execute(sa.text(statement))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name in PG_TRIGGER_NAMES:
        op.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
    for name in PG_FUNCTION_NAMES:
        op.execute(sa.text(f"DROP FUNCTION IF EXISTS {name}()"))
    op.create_foreign_key("fk_deliveries_subscriber_id_subscribers", "deliveries",
                          "subscribers", ["subscriber_id"], ["id"], ondelete="CASCADE")
    op.create_foreign_key("fk_deliveries_edition_id_editions", "deliveries", "editions",
                          ["edition_id"], ["id"], ondelete="CASCADE")
