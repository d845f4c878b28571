"""The stats tallies: reading them, and the recount they always equal.

Database triggers (migration 0010) keep `edition_tallies` (the funnel per edition and variant)
and `edition_minutes` (sent and delivered per UTC minute) current on every write to
`deliveries` and `delivery_outcomes`, and `item_tallies` (readers and clicks per link, migration
0029) on every write to `item_clicks`, so reading an edition's figures costs a row per variant
however many readers it went to. On PostgreSQL a transaction's own changes wait in change rows
until it commits; reads add them, so a caller sees what it has just written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, case, func, select, union_all
from sqlalchemy.orm import Session

from webapp.models import (
    Delivery,
    DeliveryOutcome,
    DeliveryStatus,
    EditionMinute,
    EditionMinuteChange,
    EditionTally,
    EditionTallyChange,
    ItemClick,
    ItemTally,
    ItemTallyChange,
)
from webapp.models.stats import ITEM_FIGURES, MINUTE_FIGURES, TALLY_FIGURES

Figures = dict[str, int]
STATUSES = tuple(status.value for status in DeliveryStatus)


def _with_own_changes(
    session: Session,
    settled: type[EditionTally | EditionMinute | ItemTally],
    changes: type[EditionTallyChange | EditionMinuteChange | ItemTallyChange],
    names: Sequence[str],
    edition_ids: Sequence[int] | None,
) -> Subquery:
    """The settled rows, plus on PostgreSQL this transaction's change rows not yet folded in
    (other transactions' are invisible until they commit, and gone once they have).

    Selected through the mapped classes, so the session flushes pending changes first.
    """

    def rows(model: type[Any], *where: ColumnElement[bool]) -> Select[Any]:
        if edition_ids is not None:
            where = (*where, model.edition_id.in_(edition_ids))
        return select(*(getattr(model, name) for name in names)).where(*where)

    if session.get_bind().dialect.name != "postgresql":
        return rows(settled).subquery()
    mine = rows(changes, changes.txid == func.txid_current_if_assigned())
    return union_all(rows(settled), mine).subquery()


def tallies(
    session: Session, edition_ids: Sequence[int] | None, *, by_variant: bool
) -> dict[Any, Figures]:
    """Figures per edition id, or per (edition id, variant key) with `by_variant`; editions
    without deliveries are absent. `edition_ids` None: every edition."""
    rows = _with_own_changes(
        session,
        EditionTally,
        EditionTallyChange,
        ("edition_id", "variant_key", *TALLY_FIGURES),
        edition_ids,
    )
    keys = [rows.c.edition_id, rows.c.variant_key] if by_variant else [rows.c.edition_id]
    sums = [func.sum(rows.c[name]).label(name) for name in TALLY_FIGURES]
    result: dict[Any, Figures] = {}
    for row in session.execute(select(*keys, *sums).group_by(*keys)):
        figures = {name: int(row._mapping[name] or 0) for name in TALLY_FIGURES}
        if figures["planned"]:  # else a variant whose deliveries were all deleted
            result[(row[0], row[1]) if by_variant else row[0]] = figures
    return result


def status_counts(session: Session, edition_id: int) -> dict[str, int]:
    """Deliveries per status, every status present (send progress)."""
    figures = tallies(session, [edition_id], by_variant=False).get(edition_id, {})
    return {status: figures.get(status, 0) for status in STATUSES}


def minutes(
    session: Session, edition_id: int, since: str | None = None
) -> dict[str, tuple[int, int]]:
    """(sent, delivered) per UTC minute ('YYYY-MM-DDTHH:MM') of the edition; from minute
    `since` on, when given."""
    rows = _with_own_changes(
        session,
        EditionMinute,
        EditionMinuteChange,
        ("edition_id", "minute", *MINUTE_FIGURES),
        [edition_id],
    )
    stmt = select(rows.c.minute, func.sum(rows.c.sent), func.sum(rows.c.delivered)).group_by(
        rows.c.minute
    )
    if since is not None:
        stmt = stmt.where(rows.c.minute >= since)
    return {
        minute: (int(sent or 0), int(delivered or 0))
        for minute, sent, delivered in session.execute(stmt).tuples()
        if sent or delivered
    }


def items(session: Session, edition_id: int) -> dict[int, tuple[int, int]]:
    """(readers, clicks) per link number of the edition: readers who followed it at least
    once, and every click on it by a person. Links nobody followed are absent."""
    rows = _with_own_changes(
        session, ItemTally, ItemTallyChange, ("edition_id", "item_number", *ITEM_FIGURES),
        [edition_id],
    )
    stmt = select(
        rows.c.item_number, func.sum(rows.c.readers), func.sum(rows.c.clicks)
    ).group_by(rows.c.item_number)
    return {
        number: (int(readers), int(clicks or 0))
        for number, readers, clicks in session.execute(stmt).tuples()
        if readers  # else every click on it was taken back
    }


# ---- the recount: what the tallies stand for ------------------------------------------------


def recount(session: Session, edition_ids: Sequence[int]) -> dict[tuple[int, str], Figures]:
    """The tallies counted from the rows, per (edition id, variant key), as `tallies` gives
    them. Groups every delivery: for tests and checks, never for a page."""
    status_counts = [
        func.sum(case((Delivery.status == status, 1), else_=0)).label(status.value)
        for status in DeliveryStatus
    ]
    # COUNT(column) counts the first-seen times that are set: readers, never hits.
    stmt = (
        select(
            Delivery.edition_id,
            Delivery.variant_key,
            func.count(Delivery.id).label("planned"),
            *status_counts,
            func.count(Delivery.delivered_at).label("delivered"),
            func.count(Delivery.bounced_at).label("bounced"),
            func.count(DeliveryOutcome.hard_bounced_at).label("hard_bounced"),
            func.count(Delivery.complained_at).label("complained"),
            func.count(Delivery.opened_at).label("opened"),
            func.count(Delivery.clicked_at).label("clicked"),
            func.count(DeliveryOutcome.unsubscribed_at).label("unsubscribed"),
        )
        .outerjoin(DeliveryOutcome, DeliveryOutcome.delivery_id == Delivery.id)
        .where(Delivery.edition_id.in_(edition_ids))
        .group_by(Delivery.edition_id, Delivery.variant_key)
    )
    return {
        (row.edition_id, row.variant_key): {
            name: int(row._mapping[name] or 0) for name in TALLY_FIGURES
        }
        for row in session.execute(stmt)
    }


def minute_of(column: Any, dialect: str) -> ColumnElement[str]:
    """A UTC time truncated to the minute, as text, the way the triggers write it."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI')
    return func.strftime("%Y-%m-%dT%H:%M", column)


def second_of(column: Any, dialect: str) -> ColumnElement[str]:
    """A UTC time truncated to the second, as ISO text ('YYYY-MM-DDTHH:MM:SS'; on SQLite with
    a space for the T: the stored UTC text cut after the seconds, half the cost of
    strftime)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS')
    return func.substr(column, 1, 19)


def recount_minutes(session: Session, edition_id: int) -> dict[str, tuple[int, int]]:
    """`minutes` counted from the deliveries."""
    dialect = session.get_bind().dialect.name
    counts: dict[str, list[int]] = {}
    for index, column in enumerate((Delivery.sent_at, Delivery.delivered_at)):
        minute = minute_of(column, dialect).label("minute")
        stmt = (
            select(minute, func.count())
            .where(Delivery.edition_id == edition_id, column.is_not(None))
            .group_by(minute)
        )
        for text, count in session.execute(stmt).tuples():
            counts.setdefault(text, [0, 0])[index] += count
    return {minute: (sent, delivered) for minute, (sent, delivered) in counts.items()}


def recount_seconds(session: Session, edition_id: int) -> dict[str, tuple[int, int]]:
    """(sent, delivered) per UTC second, counted from the deliveries: the timeline of a send
    that lasted seconds, finer than the per-minute tallies. Reads every delivery of the
    edition, in one pass grouped by both seconds together, so only for small sends
    (webapp.stats.figures.FINE_LIMIT)."""
    dialect = session.get_bind().dialect.name
    sent = second_of(Delivery.sent_at, dialect).label("sent")
    delivered = second_of(Delivery.delivered_at, dialect).label("delivered")
    stmt = (
        select(sent, delivered, func.count())
        .where(Delivery.edition_id == edition_id, Delivery.sent_at.is_not(None))
        .group_by(sent, delivered)
    )
    counts: dict[str, list[int]] = {}
    for sent_second, delivered_second, count in session.execute(stmt).tuples():
        counts.setdefault(sent_second, [0, 0])[0] += count
        if delivered_second is not None:
            counts.setdefault(delivered_second, [0, 0])[1] += count
    return {second: (s, d) for second, (s, d) in counts.items()}


def recount_items(session: Session, edition_id: int) -> dict[int, tuple[int, int]]:
    """`items` counted from `item_clicks` (a row per delivery and link followed)."""
    stmt = (
        select(ItemClick.item_number, func.count(), func.sum(ItemClick.clicks))
        .where(ItemClick.edition_id == edition_id)
        .group_by(ItemClick.item_number)
    )
    return {
        number: (int(readers), int(clicks or 0))
        for number, readers, clicks in session.execute(stmt).tuples()
    }
