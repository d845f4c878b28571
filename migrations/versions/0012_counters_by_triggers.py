"""the remaining stats counters kept by triggers

Until now the counters beside the tallies were kept by Python: upserts called from the SES hook
and the tracking views (hard bounces, clicks per item) and a process-wide `before_flush` listener
registered by importing webapp.stats.aggregates (readers joining and leaving per month, and the
unsubscribe credited to the last edition a reader got). The listener only saw status changes
made through the ORM, in processes that happened to import the module. Triggers see every write,
ORM or Core, from any process, like the tallies of 0010 — and measured as fast or faster (see
webapp.stats.aggregates and `python -m tests.tools.bench.counting`).

- `subscribers`: a reader entering `active`/`paused` is a join, leaving them for
  unsubscribed/bounced/complained/erased a departure, in `reader_months` (month by the database
  clock, UTC); leaving for `unsubscribed` also credits the last delivery sent before it
  (`delivery_outcomes.unsubscribed_at`).
- `events`: a permanent bounce sets its delivery's `hard_bounced_at` (the earliest one); a
  genuine click counts in `item_clicks`; a click flagged as a scanner afterwards (or deleted)
  has its (delivery, link) row recounted from the stored clicks.

PostgreSQL: `reader_months` has one hot row a month, so like the tallies a transaction's
joins and departures go to change rows of its own (`reader_month_changes`) and are folded in at
commit by the same fold as the tallies, after them, so every committer locks counters in one
order. Inserts are counted per statement (CSV imports add readers by the thousand); status
changes per row, only when the status changes. The per-delivery rows (`delivery_outcomes`,
`item_clicks`) are upserted directly: the event's transaction holds that delivery anyway.

SQLite: row-level triggers; the change table exists there too, empty.

Nothing to backfill: until this revision the same figures were kept by the Python code.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECEIVING = ("active", "paused")
DEPARTURES = ("unsubscribed", "bounced", "complained", "erased")  # the statuses, and the columns
MONTH_FIGURES = ("joined", *DEPARTURES)


def _sql_list(values: Sequence[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


RECEIVING_SQL = _sql_list(RECEIVING)
DEPARTURES_SQL = _sql_list(DEPARTURES)


def _tallies_revision() -> ModuleType:
    """0010, for the fold this revision extends (and puts back on downgrade)."""
    path = Path(__file__).with_name("0010_stats_tallies.py")
    spec = importlib.util.spec_from_file_location("yuebao_migration_0010", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- PostgreSQL ---------------------------------------------------------------------------

PG_NOW = "statement_timestamp()"
PG_MONTH = f"to_char({PG_NOW} AT TIME ZONE 'UTC', 'YYYY-MM')"
PG_MONTH_ADD = ", ".join(f"{f} = t.{f} + excluded.{f}" for f in MONTH_FIGURES)
PG_MONTH_COLUMNS = ", ".join(MONTH_FIGURES)

PG_READERS_JOINED = f"""
CREATE FUNCTION yuebao_count_readers_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reader_month_changes AS t (txid, month, {PG_MONTH_COLUMNS})
    SELECT txid_current(), {PG_MONTH}, COUNT(*), 0, 0, 0, 0
    FROM new_rows WHERE status IN {RECEIVING_SQL}
    HAVING COUNT(*) > 0
    ON CONFLICT (txid, month) DO UPDATE SET {PG_MONTH_ADD};
    RETURN NULL;
END $$
"""

PG_READER_STATUS = f"""
CREATE FUNCTION yuebao_count_reader_status() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was boolean := OLD.status IN {RECEIVING_SQL};
    figure text;
BEGIN
    IF NEW.status IN {RECEIVING_SQL} AND NOT was THEN
        figure := 'joined';
    ELSIF was AND NEW.status IN {DEPARTURES_SQL} THEN
        figure := NEW.status;  -- the departure columns are named after the statuses
    ELSE
        RETURN NULL;
    END IF;
    INSERT INTO reader_month_changes AS t (txid, month, {PG_MONTH_COLUMNS})
    VALUES (txid_current(), {PG_MONTH},
            {", ".join(f"(figure = '{f}')::int" for f in MONTH_FIGURES)})
    ON CONFLICT (txid, month) DO UPDATE SET {PG_MONTH_ADD};
    IF figure = 'unsubscribed' THEN
        -- /u/ links carry the reader's token, not the delivery's: the unsubscribe is credited
        -- to the latest delivery handed to SES before it.
        INSERT INTO delivery_outcomes AS o (delivery_id, edition_id, unsubscribed_at)
        SELECT d.id, d.edition_id, {PG_NOW} FROM deliveries AS d
        WHERE d.subscriber_id = NEW.id AND d.status = 'sent' AND d.sent_at <= {PG_NOW}
        ORDER BY d.sent_at DESC, d.id DESC
        LIMIT 1
        ON CONFLICT (delivery_id) DO UPDATE SET unsubscribed_at = excluded.unsubscribed_at
        WHERE o.unsubscribed_at IS NULL OR o.unsubscribed_at > excluded.unsubscribed_at;
    END IF;
    RETURN NULL;
END $$
"""

PG_HARD_BOUNCE = """
CREATE FUNCTION yuebao_count_hard_bounce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_outcomes AS o (delivery_id, edition_id, hard_bounced_at)
    SELECT d.id, d.edition_id, NEW.occurred_at FROM deliveries AS d WHERE d.id = NEW.delivery_id
    ON CONFLICT (delivery_id) DO UPDATE SET hard_bounced_at = excluded.hard_bounced_at
    WHERE o.hard_bounced_at IS NULL OR o.hard_bounced_at > excluded.hard_bounced_at;
    RETURN NULL;
END $$
"""

PG_CLICK = """
CREATE FUNCTION yuebao_count_click() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO item_clicks AS c (delivery_id, item_number, edition_id, clicks, first_clicked_at)
    SELECT d.id, NEW.item_number, d.edition_id, 1, NEW.occurred_at
    FROM deliveries AS d WHERE d.id = NEW.delivery_id
    ON CONFLICT (delivery_id, item_number) DO UPDATE SET clicks = c.clicks + 1,
        first_clicked_at = LEAST(c.first_clicked_at, excluded.first_clicked_at);
    RETURN NULL;
END $$
"""

RECOUNT_CLICKS = """
    DELETE FROM item_clicks WHERE delivery_id = {delivery} AND item_number = {number};
    INSERT INTO item_clicks (delivery_id, item_number, edition_id, clicks, first_clicked_at)
    SELECT d.id, e.item_number, d.edition_id, COUNT(*), MIN(e.occurred_at)
    FROM events AS e JOIN deliveries AS d ON d.id = e.delivery_id
    WHERE e.delivery_id = {delivery} AND e.item_number = {number} AND e.kind = 'click'
      AND e.suspected_scanner = {no}
    GROUP BY d.id, e.item_number, d.edition_id;
"""

PG_RECOUNT_CLICKS = f"""
CREATE FUNCTION yuebao_recount_clicks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delivery integer;
    number integer;
BEGIN
    IF TG_OP = 'DELETE' THEN
        delivery := OLD.delivery_id; number := OLD.item_number;
    ELSE
        delivery := NEW.delivery_id; number := NEW.item_number;
    END IF;
    {RECOUNT_CLICKS.format(delivery="delivery", number="number", no="false")}
    RETURN NULL;
END $$
"""

# Events are written once; afterwards only a click's scanner flag changes (a burst found
# later), or the row goes. Hot-path events (send, delivery) pass the WHEN clauses untouched.
HARD_BOUNCE_WHEN = (
    "NEW.kind = 'bounce' AND NEW.bounce_type = 'Permanent' AND NEW.delivery_id IS NOT NULL"
)
CLICK_WHEN = (
    "NEW.kind = 'click' AND NEW.suspected_scanner = {no} "
    "AND NEW.item_number IS NOT NULL AND NEW.delivery_id IS NOT NULL"
)
RECLASSIFIED_WHEN = (
    "NEW.kind = 'click' AND OLD.suspected_scanner <> NEW.suspected_scanner "
    "AND NEW.item_number IS NOT NULL AND NEW.delivery_id IS NOT NULL"
)
CLICK_GONE_WHEN = (
    "OLD.kind = 'click' AND OLD.suspected_scanner = {no} "
    "AND OLD.item_number IS NOT NULL AND OLD.delivery_id IS NOT NULL"
)
STATUS_CHANGED_WHEN = "OLD.status IS DISTINCT FROM NEW.status"

PG_FUNCTIONS = [PG_READERS_JOINED, PG_READER_STATUS, PG_HARD_BOUNCE, PG_CLICK, PG_RECOUNT_CLICKS]
PG_FUNCTION_NAMES = [
    "yuebao_count_readers_inserted",
    "yuebao_count_reader_status",
    "yuebao_count_hard_bounce",
    "yuebao_count_click",
    "yuebao_recount_clicks",
]
PG_TRIGGERS = [
    "CREATE TRIGGER subscribers_count_insert AFTER INSERT ON subscribers "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION yuebao_count_readers_inserted()",
    "CREATE TRIGGER subscribers_count_status AFTER UPDATE OF status ON subscribers "
    f"FOR EACH ROW WHEN ({STATUS_CHANGED_WHEN}) EXECUTE FUNCTION yuebao_count_reader_status()",
    "CREATE TRIGGER events_count_hard_bounce AFTER INSERT ON events "
    f"FOR EACH ROW WHEN ({HARD_BOUNCE_WHEN}) EXECUTE FUNCTION yuebao_count_hard_bounce()",
    "CREATE TRIGGER events_count_click AFTER INSERT ON events "
    f"FOR EACH ROW WHEN ({CLICK_WHEN.format(no='false')}) EXECUTE FUNCTION yuebao_count_click()",
    "CREATE TRIGGER events_recount_reclassified AFTER UPDATE OF suspected_scanner ON events "
    f"FOR EACH ROW WHEN ({RECLASSIFIED_WHEN}) EXECUTE FUNCTION yuebao_recount_clicks()",
    "CREATE TRIGGER events_recount_deleted AFTER DELETE ON events "
    f"FOR EACH ROW WHEN ({CLICK_GONE_WHEN.format(no='false')}) "
    "EXECUTE FUNCTION yuebao_recount_clicks()",
    "CREATE CONSTRAINT TRIGGER reader_month_changes_fold AFTER INSERT ON reader_month_changes "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION yuebao_tally_fold()",
]
PG_TRIGGER_NAMES = [
    ("subscribers", "subscribers_count_insert"),
    ("subscribers", "subscribers_count_status"),
    ("events", "events_count_hard_bounce"),
    ("events", "events_count_click"),
    ("events", "events_recount_reclassified"),
    ("events", "events_recount_deleted"),
    ("reader_month_changes", "reader_month_changes_fold"),
]


def pg_fold_function(tallies: ModuleType, with_months: bool) -> str:
    """0010's fold (tallies, then minutes), with this transaction's reader months after them:
    one fold for every counter, so two committers take counter locks in the same order."""
    months = f"""
        WITH f AS (DELETE FROM reader_month_changes WHERE txid = txid_current() RETURNING *)
        INSERT INTO reader_months AS t (month, {PG_MONTH_COLUMNS})
        SELECT f.month, {", ".join(f"f.{n}" for n in MONTH_FIGURES)} FROM f
        WHERE {" OR ".join(f"f.{n} <> 0" for n in MONTH_FIGURES)}
        ORDER BY f.month
        ON CONFLICT (month) DO UPDATE SET {PG_MONTH_ADD};
    """
    return f"""
    CREATE OR REPLACE FUNCTION yuebao_tally_fold() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- At commit, once per change row: the first call folds all of this transaction's rows,
        -- tallies, minutes, then reader months, each in key order.
        {tallies.pg_fold("edition_tallies", "edition_tally_changes", "variant_key",
                         tallies.FIGURES)}
        {tallies.pg_fold("edition_minutes", "edition_minute_changes", "minute",
                         list(tallies.MINUTE_COLUMNS))}
        {months if with_months else ""}
        RETURN NULL;
    END $$
    """


# ---- SQLite -------------------------------------------------------------------------------

LITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"  # SQLAlchemy's stored format
LITE_MONTH = "strftime('%Y-%m', 'now')"
LITE_ENSURE_MONTH = (
    f"INSERT INTO reader_months (month, {PG_MONTH_COLUMNS}) SELECT {LITE_MONTH}, 0, 0, 0, 0, 0 "
    f"WHERE NOT EXISTS (SELECT 1 FROM reader_months WHERE month = {LITE_MONTH});"
)
LITE_JOINS = f"(NEW.status IN {RECEIVING_SQL} AND OLD.status NOT IN {RECEIVING_SQL})"
LITE_LEAVES = f"(OLD.status IN {RECEIVING_SQL} AND NEW.status IN {DEPARTURES_SQL})"
LITE_LATEST_SENT = (
    "(SELECT id FROM deliveries WHERE subscriber_id = NEW.id AND status = 'sent' "
    f"AND sent_at <= {LITE_NOW} ORDER BY sent_at DESC, id DESC LIMIT 1)"
)


def lite_ensure_outcome(delivery_id: str) -> str:
    """The delivery's outcome row, made empty when missing (never INSERT OR IGNORE: an outer
    statement's conflict clause would override it). An empty row counts for nothing."""
    return (
        "INSERT INTO delivery_outcomes (delivery_id, edition_id) "
        f"SELECT d.id, d.edition_id FROM deliveries AS d WHERE d.id = {delivery_id} "
        "AND NOT EXISTS (SELECT 1 FROM delivery_outcomes AS o WHERE o.delivery_id = d.id);"
    )


LITE_TRIGGERS = [
    f"""CREATE TRIGGER subscribers_count_insert AFTER INSERT ON subscribers FOR EACH ROW
    WHEN NEW.status IN {RECEIVING_SQL} BEGIN
        {LITE_ENSURE_MONTH}
        UPDATE reader_months SET joined = joined + 1 WHERE month = {LITE_MONTH};
    END""",
    f"""CREATE TRIGGER subscribers_count_status AFTER UPDATE OF status ON subscribers
    FOR EACH ROW WHEN {LITE_JOINS} OR {LITE_LEAVES} BEGIN
        {LITE_ENSURE_MONTH}
        UPDATE reader_months SET joined = joined + {LITE_JOINS},
            {", ".join(f"{d} = {d} + ({LITE_LEAVES} AND NEW.status = '{d}')" for d in DEPARTURES)}
        WHERE month = {LITE_MONTH};
    END""",
    f"""CREATE TRIGGER subscribers_credit_unsubscribe AFTER UPDATE OF status ON subscribers
    FOR EACH ROW WHEN OLD.status IN {RECEIVING_SQL} AND NEW.status = 'unsubscribed' BEGIN
        {lite_ensure_outcome(LITE_LATEST_SENT)}
        UPDATE delivery_outcomes SET unsubscribed_at = {LITE_NOW}
        WHERE delivery_id = {LITE_LATEST_SENT}
          AND (unsubscribed_at IS NULL OR unsubscribed_at > {LITE_NOW});
    END""",
    f"""CREATE TRIGGER events_count_hard_bounce AFTER INSERT ON events FOR EACH ROW
    WHEN {HARD_BOUNCE_WHEN} BEGIN
        {lite_ensure_outcome("NEW.delivery_id")}
        UPDATE delivery_outcomes SET hard_bounced_at = NEW.occurred_at
        WHERE delivery_id = NEW.delivery_id
          AND (hard_bounced_at IS NULL OR hard_bounced_at > NEW.occurred_at);
    END""",
    f"""CREATE TRIGGER events_count_click AFTER INSERT ON events FOR EACH ROW
    WHEN {CLICK_WHEN.format(no="0")} BEGIN
        INSERT INTO item_clicks (delivery_id, item_number, edition_id, clicks, first_clicked_at)
        SELECT d.id, NEW.item_number, d.edition_id, 0, NEW.occurred_at
        FROM deliveries AS d WHERE d.id = NEW.delivery_id AND NOT EXISTS (
            SELECT 1 FROM item_clicks AS c
            WHERE c.delivery_id = d.id AND c.item_number = NEW.item_number);
        UPDATE item_clicks SET clicks = clicks + 1,
            first_clicked_at = min(first_clicked_at, NEW.occurred_at)
        WHERE delivery_id = NEW.delivery_id AND item_number = NEW.item_number;
    END""",
    f"""CREATE TRIGGER events_recount_reclassified AFTER UPDATE OF suspected_scanner ON events
    FOR EACH ROW WHEN {RECLASSIFIED_WHEN} BEGIN
        {RECOUNT_CLICKS.format(delivery="NEW.delivery_id", number="NEW.item_number", no="0")}
    END""",
    f"""CREATE TRIGGER events_recount_deleted AFTER DELETE ON events
    FOR EACH ROW WHEN {CLICK_GONE_WHEN.format(no="0")} BEGIN
        {RECOUNT_CLICKS.format(delivery="OLD.delivery_id", number="OLD.item_number", no="0")}
    END""",
]
LITE_TRIGGER_NAMES = [
    "subscribers_count_insert",
    "subscribers_count_status",
    "subscribers_credit_unsubscribe",
    "events_count_hard_bounce",
    "events_count_click",
    "events_recount_reclassified",
    "events_recount_deleted",
]


def upgrade() -> None:
    op.create_table(
        "reader_month_changes",
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        *(sa.Column(name, sa.Integer(), server_default="0", nullable=False)
          for name in MONTH_FIGURES),
        sa.PrimaryKeyConstraint("txid", "month", name=op.f("pk_reader_month_changes")),
    )
    if op.get_bind().dialect.name == "postgresql":
        statements = [
            *PG_FUNCTIONS,
            pg_fold_function(_tallies_revision(), with_months=True),
            *PG_TRIGGERS,
        ]
    else:
        statements = LITE_TRIGGERS
    for statement in statements:
        op.execute(sa.text(statement))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, name in PG_TRIGGER_NAMES:
            op.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
        for name in PG_FUNCTION_NAMES:
            op.execute(sa.text(f"DROP FUNCTION IF EXISTS {name}()"))
        op.execute(sa.text(pg_fold_function(_tallies_revision(), with_months=False)))
    else:
        for name in LITE_TRIGGER_NAMES:
            op.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
    op.drop_table("reader_month_changes")
