"""Stats as CSV for spreadsheets: one row per edition, or one row per item of an edition.

Text cells that a spreadsheet would read as a formula (an item title starting with "=") are
neutralised as in the readers' export.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from webapp.models import Edition
from webapp.readers.subscribers_csv import safe_cell
from webapp.stats.figures import edition_report, editions_with_stats

EDITION_COLUMNS = (
    "month", "status", "planned", "sent", "failed", "skipped", "delivered", "bounced",
    "hard_bounced", "soft_bounced", "complained", "unique_opens_approx", "unique_clicks",
    "unsubscribed", "delivery_rate", "hard_bounce_rate", "complaint_rate", "open_rate_approx",
    "click_rate", "unsubscribe_rate",
)  # fmt: skip
ITEM_COLUMNS = (
    "month", "number", "section", "title", "url", "topics", "recipients", "unique_clicks",
    "clicks", "click_rate",
)  # fmt: skip


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _write(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; a bare CR in a cell is quoted
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) if isinstance(v, str) else v for v in row])
    return out.getvalue()


def editions_csv(session: Session) -> str:
    rows = []
    for edition, f in editions_with_stats(session):
        r = f.rates()
        rows.append((
            edition.month, edition.status.value, f.planned, f.sent, f.failed, f.skipped,
            f.delivered, f.bounced, f.hard_bounced, f.soft_bounced, f.complained, f.opened,
            f.clicked, f.unsubscribed, _rate(r["delivered"]), _rate(r["hard_bounced"]),
            _rate(r["complained"]), _rate(r["opened"]), _rate(r["clicked"]),
            _rate(r["unsubscribed"]),
        ))  # fmt: skip
    return _write(EDITION_COLUMNS, rows)


def items_csv(session: Session, edition: Edition) -> str:
    report = edition_report(session, edition)
    rows = [
        (edition.month, i.number, i.section, i.title, i.url, ";".join(i.topics), i.recipients,
         i.readers, i.clicks, _rate(i.rate))
        for i in report.items
    ]  # fmt: skip
    return _write(ITEM_COLUMNS, rows)
