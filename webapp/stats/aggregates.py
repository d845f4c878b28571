"""The stats counters: where each figure lives, and why the database keeps them all.

- delivered, bounced, complained, opened, clicked: the first-seen columns of `deliveries`
  (one row per edition and reader), set by webapp.events.ses and .tracking in the event's own
  transaction — retroactive scanner flags included. A counter table would only copy them.
- the funnel per edition and variant, and sent/delivered per minute: `edition_tallies` and
  `edition_minutes` (migration 0010).
- hard bounces and unsubscribes: `delivery_outcomes`, one row per delivery that had one.
- clicks per item: `item_clicks`, one row per delivery and link a person followed, counted
  per edition and link in `item_tallies` (readers, clicks: migration 0029), which stats read.
- readers joining and leaving per month: `reader_months`, one row per month.

All of them are kept by database triggers (migrations 0010, 0012 and 0029), and nothing in Python
writes them. Triggers see every write, ORM or Core, from any process — a status changed by a
Core UPDATE, the CSV import, the console or psql counts the same — so no service has to
remember to count and nothing depends on which modules a process imported (the old
`before_flush` listener did both). Speed does not tell triggers and explicit upserts apart:
`python -m tests.tools.bench.counting` (N=1000, each operation its own transaction; two runs
on a shared 2-core machine, ms per operation; bulk: ms for 10,000 readers in one statement):

                       nothing counted  explicit upserts  ORM + listener  trigger (Core)
  SQLite  unsubscribe     3.6 / 0.7       3.4 / 1.7        5.2 / 2.5      4.2 / 0.9
          bounce          4.3 / 1.4       4.5 / 1.0        5.1 / 1.6      2.0 / 1.1
          click           1.3 / 1.1       2.7 / 1.0            -          2.2 / 3.3
          bulk import     179 / 63        239 / 98     4904 / 2161 (ORM)  195 / 171
  Postgre unsubscribe     2.5 / 1.1       2.3 / 2.2        4.7 / 2.4      1.3 / 2.0
          bounce          2.9 / 1.2       4.3 / 1.9        4.7 / 2.3      3.4 / 1.8
          click           0.7 / 0.6       1.4 / 0.6            -          1.3 / 0.8
          bulk import     107 / 67         91 / 88     4620 / 4138 (ORM)  151 / 79

Counting costs well under a millisecond either way and the run-to-run noise (SQLite's commit
fsync above all) is larger than the gap; the ORM listener is the slowest per operation, and
an ORM import costs seconds whatever counts it. So the choice rests on coverage: triggers.

On PostgreSQL a transaction's joins and departures wait in `reader_month_changes` until it
commits (the month's row is hot); `reader_months` below adds them, so a caller sees what it
has just written.
"""

from __future__ import annotations

from sqlalchemy import Select, func, select, union_all
from sqlalchemy.orm import Session

from webapp.models import ReaderMonth, ReaderMonthChange
from webapp.models.stats import MONTH_FIGURES

MonthFigures = dict[str, int]


def reader_months(session: Session) -> dict[str, MonthFigures]:
    """Joins and departures per month (YYYY-MM), this transaction's own included."""

    def rows(model: type[ReaderMonth | ReaderMonthChange]) -> Select[tuple[object, ...]]:
        return select(model.month, *(getattr(model, name) for name in MONTH_FIGURES))

    if session.get_bind().dialect.name == "postgresql":
        mine = rows(ReaderMonthChange).where(
            ReaderMonthChange.txid == func.txid_current_if_assigned()
        )
        source = union_all(rows(ReaderMonth), mine).subquery()
    else:
        source = rows(ReaderMonth).subquery()
    stmt = select(source.c.month, *(func.sum(source.c[name]) for name in MONTH_FIGURES)).group_by(
        source.c.month
    )
    return {
        month: dict(zip(MONTH_FIGURES, (int(n or 0) for n in counts), strict=True))
        for month, *counts in session.execute(stmt)
    }
