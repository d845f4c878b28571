"""stats tallies kept by triggers

The dashboard grouped every delivery of an edition several times per request: seconds at a
million deliveries. `edition_tallies` holds the same figures as counters per edition and variant
(the funnel: planned, one per delivery status, first-seen figures, hard bounces, unsubscribes),
`edition_minutes` per edition and UTC minute (the timeline: sent, delivered). Triggers on
`deliveries` and `delivery_outcomes` keep them exact for every write, whatever code path makes
it (the plan's INSERT … SELECT, claims, settlements, events, cancel, erasure, deletes), so no
service has to remember to; existing rows are counted here, so an upgraded database is right at
once. `webapp.stats.tallies.recount` is the old grouped SQL, to check them against.

PostgreSQL: statement-level triggers with transition tables, so the plan's one INSERT … SELECT of
a million rows costs one grouped pass, not a million trigger calls. A statement's deltas go to
change rows of its own transaction (`edition_tally_changes`, `edition_minute_changes`, keyed by
transaction id: never shared, so never waited for), and a deferred constraint trigger folds them
into the counters when the transaction commits, in key order. Updating the counters directly
would take their row locks mid-transaction and deadlock: a worker settling a chunk (one UPDATE
per delivery; the first locks the variant's counter) and an SES event for a later delivery of
that chunk (locks the delivery, then wants the counter) wait for each other. At commit a
transaction waits for counter rows only, always in the same order. Readers add their own
transaction's change rows (other transactions' are uncommitted, or gone once folded).

SQLite: row-level triggers (one writer at a time, so no lock order to keep), with WHEN clauses
so an update that changes no figure does nothing. The change tables exist there too, empty.

A delivery's outcome row is deleted just before the delivery (a BEFORE DELETE trigger), while
the delivery still says which variant its hard bounce and unsubscribe were counted under; the
ON DELETE CASCADE would only remove it after the delivery is gone. Decrements never insert a
counter row, so deleting an edition (which cascades to its counters) cannot trip over its
foreign key.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The figures, in the order of webapp.stats.figures.Funnel, and the columns they come from.
STATUSES = ("queued", "sending", "in_doubt", "sent", "failed", "skipped")
FIRST_SEEN = {
    "delivered": "delivered_at",
    "bounced": "bounced_at",
    "complained": "complained_at",
    "opened": "opened_at",
    "clicked": "clicked_at",
}
OUTCOMES = {"hard_bounced": "hard_bounced_at", "unsubscribed": "unsubscribed_at"}
FIGURES = (
    "planned", *STATUSES, "delivered", "bounced", "hard_bounced", "complained", "opened",
    "clicked", "unsubscribed",
)
DELIVERY_FIGURES = tuple(f for f in FIGURES if f not in OUTCOMES)
MINUTE_COLUMNS = {"sent": "sent_at", "delivered": "delivered_at"}


def delivery_terms(row: str, sign: str = "1") -> dict[str, str]:
    """Each delivery figure of one row as an SQL expression worth `sign` or 0."""
    terms = {"planned": sign}
    terms.update({s: f"CASE WHEN {row}.status = '{s}' THEN {sign} ELSE 0 END" for s in STATUSES})
    terms.update(
        {f: f"CASE WHEN {row}.{c} IS NOT NULL THEN {sign} ELSE 0 END"
         for f, c in FIRST_SEEN.items()}
    )
    return terms


def outcome_terms(row: str, sign: str = "1") -> dict[str, str]:
    return {
        f: f"CASE WHEN {row}.{c} IS NOT NULL THEN {sign} ELSE 0 END" for f, c in OUTCOMES.items()
    }


def counter_columns(names: Sequence[str]) -> list[sa.Column[int]]:
    return [sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in names]


# ---- PostgreSQL ---------------------------------------------------------------------------

PG_MINUTE = """to_char(date_trunc('minute', {column} AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI')"""


def pg_changed(op_name: str, columns: str) -> str:
    """The statement's rows, each with +1 (new) or -1 (old)."""
    new = f"SELECT 1 AS sign, {columns} FROM new_rows"
    old = f"SELECT -1 AS sign, {columns} FROM old_rows"
    return {"INSERT": new, "DELETE": old, "UPDATE": f"{new} UNION ALL {old}"}[op_name]


def pg_add(table: str, figures: Sequence[str]) -> str:
    return ", ".join(f"{f} = {table}.{f} + excluded.{f}" for f in figures)


def pg_tally_changes(figures: Sequence[str], sums: Sequence[str], source: str, key: str) -> str:
    """One upsert of the statement's deltas per (edition, variant) into this transaction's
    change rows, zero deltas left out."""
    nonzero = " OR ".join(f"{s} <> 0" for s in sums)
    return f"""
        INSERT INTO edition_tally_changes AS t (txid, edition_id, variant_key, {", ".join(figures)})
        SELECT txid_current(), {key}.edition_id, {key}.variant_key, {", ".join(sums)}
        FROM {source}
        GROUP BY {key}.edition_id, {key}.variant_key
        HAVING {nonzero}
        ORDER BY {key}.edition_id, {key}.variant_key
        ON CONFLICT (txid, edition_id, variant_key) DO UPDATE SET {pg_add("t", figures)};
    """


def pg_deliveries_function(op_name: str) -> str:
    columns = ", ".join(["edition_id", "variant_key", "status", "sent_at", *FIRST_SEEN.values()])
    changed = pg_changed(op_name, columns)
    sums = [
        "SUM(c.sign)",
        *(f"SUM(CASE WHEN c.status = '{s}' THEN c.sign ELSE 0 END)" for s in STATUSES),
        *(f"SUM(CASE WHEN c.{col} IS NOT NULL THEN c.sign ELSE 0 END)"
          for col in FIRST_SEEN.values()),
    ]
    minutes = " UNION ALL ".join(
        f"SELECT c.edition_id, date_trunc('minute', c.{column} AT TIME ZONE 'UTC') AS m, "
        f"{'c.sign' if figure == 'sent' else '0'} AS sent, "
        f"{'c.sign' if figure == 'delivered' else '0'} AS delivered "
        f"FROM ({changed}) AS c WHERE c.{column} IS NOT NULL"
        for figure, column in MINUTE_COLUMNS.items()
    )
    return f"""
    CREATE FUNCTION yuebao_tally_deliveries_{op_name.lower()}() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        {pg_tally_changes(DELIVERY_FIGURES, sums, f"({changed}) AS c", "c")}
        INSERT INTO edition_minute_changes AS t (txid, edition_id, minute, sent, delivered)
        SELECT txid_current(), s.edition_id, to_char(s.m, 'YYYY-MM-DD"T"HH24:MI'),
               SUM(s.sent), SUM(s.delivered)
        FROM ({minutes}) AS s
        GROUP BY s.edition_id, s.m
        HAVING SUM(s.sent) <> 0 OR SUM(s.delivered) <> 0
        ORDER BY s.edition_id, s.m
        ON CONFLICT (txid, edition_id, minute) DO UPDATE SET {pg_add("t", list(MINUTE_COLUMNS))};
        RETURN NULL;
    END $$
    """


def pg_outcomes_function(op_name: str) -> str:
    changed = pg_changed(op_name, "delivery_id, hard_bounced_at, unsubscribed_at")
    sums = [f"SUM(CASE WHEN o.{c} IS NOT NULL THEN o.sign ELSE 0 END)" for c in OUTCOMES.values()]
    # The variant is the delivery's; an outcome whose delivery is already gone was taken back
    # by yuebao_tally_outcome_first before the delivery went.
    source = f"({changed}) AS o JOIN deliveries AS d ON d.id = o.delivery_id"
    return f"""
    CREATE FUNCTION yuebao_tally_outcomes_{op_name.lower()}() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        {pg_tally_changes(list(OUTCOMES), sums, source, "d")}
        RETURN NULL;
    END $$
    """


PG_REKEY_FUNCTION = f"""
CREATE FUNCTION yuebao_tally_delivery_rekeyed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The statement trigger moves the delivery's own figures; its outcomes move here.
    INSERT INTO edition_tally_changes AS t
        (txid, edition_id, variant_key, hard_bounced, unsubscribed)
    SELECT txid_current(), k.edition_id, k.variant_key,
           {", ".join(outcome_terms("o", "k.sign").values())}
    FROM delivery_outcomes AS o
    CROSS JOIN (VALUES (OLD.edition_id, OLD.variant_key, -1), (NEW.edition_id, NEW.variant_key, 1))
        AS k (edition_id, variant_key, sign)
    WHERE o.delivery_id = OLD.id
      AND (o.hard_bounced_at IS NOT NULL OR o.unsubscribed_at IS NOT NULL)
    ORDER BY k.edition_id, k.variant_key
    ON CONFLICT (txid, edition_id, variant_key) DO UPDATE SET {pg_add("t", list(OUTCOMES))};
    RETURN NULL;
END $$
"""

PG_OUTCOME_FIRST_FUNCTION = """
CREATE FUNCTION yuebao_tally_outcome_first() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM delivery_outcomes WHERE delivery_id = OLD.id) THEN
        DELETE FROM delivery_outcomes WHERE delivery_id = OLD.id;
    END IF;
    RETURN OLD;
END $$
"""


PG_TRUNCATE_FUNCTIONS = [
    """
CREATE FUNCTION yuebao_tally_deliveries_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Every delivery is gone (TRUNCATE locks out every other writer meanwhile).
    DELETE FROM edition_tally_changes WHERE txid = txid_current();
    DELETE FROM edition_minute_changes WHERE txid = txid_current();
    DELETE FROM edition_tallies;
    DELETE FROM edition_minutes;
    RETURN NULL;
END $$
""",
    """
CREATE FUNCTION yuebao_tally_outcomes_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE edition_tally_changes SET hard_bounced = 0, unsubscribed = 0
    WHERE txid = txid_current();
    UPDATE edition_tallies SET hard_bounced = 0, unsubscribed = 0
    WHERE hard_bounced <> 0 OR unsubscribed <> 0;
    RETURN NULL;
END $$
""",
]


def pg_fold(table: str, changes: str, key: str, figures: Sequence[str]) -> str:
    nonzero = " OR ".join(f"f.{name} <> 0" for name in figures)
    names = ", ".join(figures)
    return f"""
        WITH f AS (DELETE FROM {changes} WHERE txid = txid_current() RETURNING *)
        INSERT INTO {table} AS t (edition_id, {key}, {names})
        SELECT f.edition_id, f.{key}, {", ".join(f"f.{n}" for n in figures)}
        FROM f
        WHERE ({nonzero}) AND EXISTS (SELECT 1 FROM editions AS e WHERE e.id = f.edition_id)
        ORDER BY f.edition_id, f.{key}
        ON CONFLICT (edition_id, {key}) DO UPDATE SET {pg_add("t", figures)};
    """


PG_FOLD_FUNCTION = f"""
CREATE FUNCTION yuebao_tally_fold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- At commit, once per change row: the first call folds all of this transaction's rows,
    -- counters before minutes and each in key order, so two committers never wait in a circle.
    {pg_fold("edition_tallies", "edition_tally_changes", "variant_key", FIGURES)}
    {pg_fold("edition_minutes", "edition_minute_changes", "minute", list(MINUTE_COLUMNS))}
    RETURN NULL;
END $$
"""

PG_TRIGGERS = [
    *(
        f"CREATE TRIGGER deliveries_tally_{o.lower()} AFTER {o} ON deliveries REFERENCING {refs} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION yuebao_tally_deliveries_{o.lower()}()"
        for o, refs in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        )
    ),
    *(
        f"CREATE TRIGGER delivery_outcomes_tally_{o.lower()} AFTER {o} ON delivery_outcomes "
        f"REFERENCING {refs} FOR EACH STATEMENT "
        f"EXECUTE FUNCTION yuebao_tally_outcomes_{o.lower()}()"
        for o, refs in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        )
    ),
    # Row-level, but only when a delivery changes edition or variant (nothing does today).
    "CREATE TRIGGER deliveries_tally_rekey AFTER UPDATE OF edition_id, variant_key ON deliveries "
    "FOR EACH ROW WHEN (OLD.edition_id IS DISTINCT FROM NEW.edition_id "
    "OR OLD.variant_key IS DISTINCT FROM NEW.variant_key) "
    "EXECUTE FUNCTION yuebao_tally_delivery_rekeyed()",
    # Row-level on delete only: deliveries are deleted a reader at a time (purges), or with a
    # draft edition, which has none.
    "CREATE TRIGGER deliveries_tally_outcome_first BEFORE DELETE ON deliveries "
    "FOR EACH ROW EXECUTE FUNCTION yuebao_tally_outcome_first()",
    *(
        f"CREATE TRIGGER {table}_tally_truncate AFTER TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION yuebao_tally_{kind}_truncate()"
        for table, kind in (("deliveries", "deliveries"), ("delivery_outcomes", "outcomes"))
    ),
    *(
        f"CREATE CONSTRAINT TRIGGER {table}_fold AFTER INSERT ON {table} "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION yuebao_tally_fold()"
        for table in ("edition_tally_changes", "edition_minute_changes")
    ),
]

PG_FUNCTIONS = [
    *(pg_deliveries_function(o) for o in ("INSERT", "UPDATE", "DELETE")),
    *(pg_outcomes_function(o) for o in ("INSERT", "UPDATE", "DELETE")),
    PG_REKEY_FUNCTION,
    PG_OUTCOME_FIRST_FUNCTION,
    *PG_TRUNCATE_FUNCTIONS,
    PG_FOLD_FUNCTION,
]
PG_FUNCTION_NAMES = [
    *(f"yuebao_tally_deliveries_{o}" for o in ("insert", "update", "delete")),
    *(f"yuebao_tally_outcomes_{o}" for o in ("insert", "update", "delete")),
    "yuebao_tally_delivery_rekeyed",
    "yuebao_tally_outcome_first",
    "yuebao_tally_deliveries_truncate",
    "yuebao_tally_outcomes_truncate",
    "yuebao_tally_fold",
]
PG_TRIGGER_NAMES = [
    *(("deliveries", f"deliveries_tally_{o}") for o in ("insert", "update", "delete")),
    *(
        ("delivery_outcomes", f"delivery_outcomes_tally_{o}")
        for o in ("insert", "update", "delete")
    ),
    ("deliveries", "deliveries_tally_rekey"),
    ("deliveries", "deliveries_tally_outcome_first"),
    ("deliveries", "deliveries_tally_truncate"),
    ("delivery_outcomes", "delivery_outcomes_tally_truncate"),
    ("edition_tally_changes", "edition_tally_changes_fold"),
    ("edition_minute_changes", "edition_minute_changes_fold"),
]

# ---- SQLite -------------------------------------------------------------------------------


def lite_minute(column: str) -> str:
    return f"strftime('%Y-%m-%dT%H:%M', {column})"


def lite_ensure(table: str, key: str, edition: str, value: str, when: str = "1") -> str:
    """The counter row, made with zeros when missing (never INSERT OR IGNORE: an outer
    statement's conflict clause would override it)."""
    return (
        f"INSERT INTO {table} (edition_id, {key}) SELECT {edition}, {value} WHERE {when} "
        f"AND NOT EXISTS (SELECT 1 FROM {table} WHERE edition_id = {edition} AND {key} = {value});"
    )


def lite_set(terms: dict[str, str], sign: str) -> str:
    return ", ".join(f"{name} = {name} {sign} ({term})" for name, term in terms.items())


def lite_delivery_key(delivery_id: str) -> tuple[str, str]:
    return (
        f"(SELECT edition_id FROM deliveries WHERE id = {delivery_id})",
        f"(SELECT variant_key FROM deliveries WHERE id = {delivery_id})",
    )


def lite_outcome_lookup(delivery_id: str) -> dict[str, str]:
    """A delivery's outcome figures (0 without an outcome row)."""
    return {
        figure: f"COALESCE((SELECT {column} IS NOT NULL FROM delivery_outcomes "
        f"WHERE delivery_id = {delivery_id}), 0)"
        for figure, column in OUTCOMES.items()
    }


def lite_tally_update(terms: dict[str, str], sign: str, edition: str, key: str) -> str:
    return (
        f"UPDATE edition_tallies SET {lite_set(terms, sign)} "
        f"WHERE edition_id = {edition} AND variant_key = {key};"
    )


def lite_triggers() -> list[str]:
    same_key = "NEW.edition_id = OLD.edition_id AND NEW.variant_key = OLD.variant_key"
    figure_changed = " OR ".join(
        ["OLD.status IS NOT NEW.status"]
        + [f"(OLD.{c} IS NULL) <> (NEW.{c} IS NULL)" for c in FIRST_SEEN.values()]
    )
    moved = {
        name: f"({delivery_terms('NEW')[name]}) - ({delivery_terms('OLD')[name]})"
        for name in DELIVERY_FIGURES
        if name != "planned"
    }
    triggers = [
        f"""CREATE TRIGGER deliveries_tally_insert AFTER INSERT ON deliveries FOR EACH ROW BEGIN
            {lite_ensure("edition_tallies", "variant_key", "NEW.edition_id", "NEW.variant_key")}
            {lite_tally_update(delivery_terms("NEW"), "+", "NEW.edition_id", "NEW.variant_key")}
        END""",
        f"""CREATE TRIGGER deliveries_tally_update
        AFTER UPDATE OF status, {", ".join(FIRST_SEEN.values())} ON deliveries FOR EACH ROW
        WHEN {same_key} AND ({figure_changed}) BEGIN
            {lite_tally_update(moved, "+", "NEW.edition_id", "NEW.variant_key")}
        END""",
        f"""CREATE TRIGGER deliveries_tally_rekey
        AFTER UPDATE OF edition_id, variant_key ON deliveries FOR EACH ROW
        WHEN NOT ({same_key}) BEGIN
            {lite_tally_update({**delivery_terms("OLD"), **lite_outcome_lookup("OLD.id")}, "-",
                               "OLD.edition_id", "OLD.variant_key")}
            {lite_ensure("edition_tallies", "variant_key", "NEW.edition_id", "NEW.variant_key")}
            {lite_tally_update({**delivery_terms("NEW"), **lite_outcome_lookup("OLD.id")}, "+",
                               "NEW.edition_id", "NEW.variant_key")}
        END""",
        """CREATE TRIGGER deliveries_tally_outcome_first BEFORE DELETE ON deliveries
        FOR EACH ROW BEGIN
            DELETE FROM delivery_outcomes WHERE delivery_id = OLD.id;
        END""",
        f"""CREATE TRIGGER deliveries_tally_delete AFTER DELETE ON deliveries FOR EACH ROW BEGIN
            {lite_tally_update(delivery_terms("OLD"), "-", "OLD.edition_id", "OLD.variant_key")}
        END""",
    ]

    def minute_add(row: str, sign: str, column: str, figure: str, when: str) -> str:
        minute = lite_minute(f"{row}.{column}")
        ensure = "" if sign == "-" else lite_ensure(
            "edition_minutes", "minute", f"{row}.edition_id", minute,
            f"{when} AND {row}.{column} IS NOT NULL",
        )
        return ensure + (
            f"UPDATE edition_minutes SET {figure} = {figure} {sign} 1 "
            f"WHERE {when} AND {row}.{column} IS NOT NULL "
            f"AND edition_id = {row}.edition_id AND minute = {minute};"
        )

    any_time = " OR ".join(f"{{row}}.{c} IS NOT NULL" for c in MINUTE_COLUMNS.values())
    insert_body = "".join(minute_add("NEW", "+", c, f, "1") for f, c in MINUTE_COLUMNS.items())
    delete_body = "".join(minute_add("OLD", "-", c, f, "1") for f, c in MINUTE_COLUMNS.items())
    update_body = ""
    for figure, column in MINUTE_COLUMNS.items():
        changed = f"(OLD.{column} IS NOT NEW.{column} OR OLD.edition_id <> NEW.edition_id)"
        update_body += minute_add("OLD", "-", column, figure, changed)
        update_body += minute_add("NEW", "+", column, figure, changed)
    update_when = " OR ".join(
        [f"OLD.{c} IS NOT NEW.{c}" for c in MINUTE_COLUMNS.values()]
        + ["OLD.edition_id <> NEW.edition_id"]
    )
    triggers += [
        f"""CREATE TRIGGER deliveries_minutes_insert AFTER INSERT ON deliveries FOR EACH ROW
        WHEN {any_time.format(row="NEW")} BEGIN {insert_body} END""",
        f"""CREATE TRIGGER deliveries_minutes_update
        AFTER UPDATE OF {", ".join(MINUTE_COLUMNS.values())}, edition_id ON deliveries
        FOR EACH ROW WHEN {update_when} BEGIN {update_body} END""",
        f"""CREATE TRIGGER deliveries_minutes_delete AFTER DELETE ON deliveries FOR EACH ROW
        WHEN {any_time.format(row="OLD")} BEGIN {delete_body} END""",
    ]

    def outcome_change(row: str, sign: str) -> str:
        edition, key = lite_delivery_key(f"{row}.delivery_id")
        ensure = "" if sign == "-" else (
            "INSERT INTO edition_tallies (edition_id, variant_key) "
            "SELECT d.edition_id, d.variant_key FROM deliveries AS d "
            f"WHERE d.id = {row}.delivery_id "
            "AND NOT EXISTS (SELECT 1 FROM edition_tallies AS t "
            "WHERE t.edition_id = d.edition_id AND t.variant_key = d.variant_key);"
        )
        return ensure + lite_tally_update(outcome_terms(row), sign, edition, key)

    any_outcome = " OR ".join(f"{{row}}.{c} IS NOT NULL" for c in OUTCOMES.values())
    outcome_moved = " OR ".join(
        ["OLD.delivery_id <> NEW.delivery_id"]
        + [f"(OLD.{c} IS NULL) <> (NEW.{c} IS NULL)" for c in OUTCOMES.values()]
    )
    triggers += [
        f"""CREATE TRIGGER delivery_outcomes_tally_insert AFTER INSERT ON delivery_outcomes
        FOR EACH ROW WHEN {any_outcome.format(row="NEW")} BEGIN {outcome_change("NEW", "+")} END""",
        f"""CREATE TRIGGER delivery_outcomes_tally_update
        AFTER UPDATE OF delivery_id, {", ".join(OUTCOMES.values())} ON delivery_outcomes
        FOR EACH ROW WHEN {outcome_moved} BEGIN
            {outcome_change("OLD", "-")} {outcome_change("NEW", "+")}
        END""",
        f"""CREATE TRIGGER delivery_outcomes_tally_delete AFTER DELETE ON delivery_outcomes
        FOR EACH ROW WHEN {any_outcome.format(row="OLD")} BEGIN {outcome_change("OLD", "-")} END""",
    ]
    return triggers


LITE_TRIGGER_NAMES = [
    "deliveries_tally_insert",
    "deliveries_tally_update",
    "deliveries_tally_rekey",
    "deliveries_tally_outcome_first",
    "deliveries_tally_delete",
    "deliveries_minutes_insert",
    "deliveries_minutes_update",
    "deliveries_minutes_delete",
    "delivery_outcomes_tally_insert",
    "delivery_outcomes_tally_update",
    "delivery_outcomes_tally_delete",
]

# ---- backfill -----------------------------------------------------------------------------


def backfill(dialect: str) -> list[str]:
    """The counters from the rows already there: the old grouped roll-up, once."""
    counts = {
        "planned": "COUNT(*)",
        **{s: f"SUM(CASE WHEN d.status = '{s}' THEN 1 ELSE 0 END)" for s in STATUSES},
        **{f: f"COUNT(d.{c})" for f, c in FIRST_SEEN.items()},
        **{f: f"COUNT(o.{c})" for f, c in OUTCOMES.items()},
    }
    tallies = f"""
        INSERT INTO edition_tallies (edition_id, variant_key, {", ".join(FIGURES)})
        SELECT d.edition_id, d.variant_key, {", ".join(counts[f] for f in FIGURES)}
        FROM deliveries AS d LEFT JOIN delivery_outcomes AS o ON o.delivery_id = d.id
        GROUP BY d.edition_id, d.variant_key
    """

    def minute(column: str) -> str:
        if dialect == "postgresql":
            return PG_MINUTE.format(column=column)
        return lite_minute(column)

    times = " UNION ALL ".join(
        f"SELECT edition_id, {minute(column)} AS minute, "
        f"{1 if figure == 'sent' else 0} AS sent, {1 if figure == 'delivered' else 0} AS delivered "
        f"FROM deliveries WHERE {column} IS NOT NULL"
        for figure, column in MINUTE_COLUMNS.items()
    )
    minutes = f"""
        INSERT INTO edition_minutes (edition_id, minute, sent, delivered)
        SELECT m.edition_id, m.minute, SUM(m.sent), SUM(m.delivered) FROM ({times}) AS m
        GROUP BY m.edition_id, m.minute
    """
    return [tallies, minutes]


def upgrade() -> None:
    op.create_table(
        "edition_tallies",
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("variant_key", sa.String(length=600), nullable=False),
        *counter_columns(FIGURES),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
            name=op.f("fk_edition_tallies_edition_id_editions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("edition_id", "variant_key", name=op.f("pk_edition_tallies")),
    )
    op.create_table(
        "edition_minutes",
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.String(length=16), nullable=False),
        *counter_columns(list(MINUTE_COLUMNS)),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
            name=op.f("fk_edition_minutes_edition_id_editions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("edition_id", "minute", name=op.f("pk_edition_minutes")),
    )
    # No foreign key: a change row may name an edition being deleted in the same transaction
    # (the fold skips it), and they live only until their transaction commits.
    op.create_table(
        "edition_tally_changes",
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("variant_key", sa.String(length=600), nullable=False),
        *counter_columns(FIGURES),
        sa.PrimaryKeyConstraint(
            "txid", "edition_id", "variant_key", name=op.f("pk_edition_tally_changes")
        ),
    )
    op.create_table(
        "edition_minute_changes",
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.String(length=16), nullable=False),
        *counter_columns(list(MINUTE_COLUMNS)),
        sa.PrimaryKeyConstraint(
            "txid", "edition_id", "minute", name=op.f("pk_edition_minute_changes")
        ),
    )

    dialect = op.get_bind().dialect.name
    # Triggers before the backfill: on PostgreSQL creating them locks both tables against
    # writes until this transaction commits, so no write falls between count and trigger.
    if dialect == "postgresql":
        for statement in [*PG_FUNCTIONS, *PG_TRIGGERS]:
            op.execute(sa.text(statement))
    else:
        for statement in lite_triggers():
            op.execute(sa.text(statement))
    for statement in backfill(dialect):
        op.execute(sa.text(statement))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, name in PG_TRIGGER_NAMES:
            op.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
        for name in PG_FUNCTION_NAMES:
            op.execute(sa.text(f"DROP FUNCTION IF EXISTS {name}()"))
    else:
        for name in LITE_TRIGGER_NAMES:
            op.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
    op.drop_table("edition_minute_changes")
    op.drop_table("edition_tally_changes")
    op.drop_table("edition_minutes")
    op.drop_table("edition_tallies")
