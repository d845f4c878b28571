"""Clicks per item at the bench's size: the grouping of `item_clicks` the dashboard used to run
against the `item_tallies` it reads now (migration 0029), in the same database and run.

Each figure is the median of `repeats` reads, each in a transaction of its own as a request
has, after one warm-up read; wall milliseconds and the process's CPU milliseconds (the client's
share: the database server's CPU is another process).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.models import ItemClick
from webapp.stats import tallies


def _timed(session: Session, read: Callable[[], object], repeats: int) -> tuple[float, float]:
    read()  # warm caches, as a dashboard in use has them
    walls, cpus = [], []
    for _ in range(repeats):
        session.rollback()
        wall, cpu = time.perf_counter(), time.process_time()
        read()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return round(statistics.median(walls), 2), round(statistics.median(cpus), 2)


def item_figures(session: Session, edition_id: int, repeats: int = 7) -> dict[str, Any]:
    """The old grouping and the tallies timed; whether they give the same figures."""
    session.commit()

    def grouped() -> dict[int, tuple[int, int]]:
        stmt = (
            select(ItemClick.item_number, func.count(), func.sum(ItemClick.clicks))
            .where(ItemClick.edition_id == edition_id)
            .group_by(ItemClick.item_number)
        )
        return {n: (int(r), int(c or 0)) for n, r, c in session.execute(stmt).tuples()}

    def tallied() -> dict[int, tuple[int, int]]:
        return tallies.items(session, edition_id)

    same = grouped() == tallied()
    session.rollback()
    rows = session.scalar(
        select(func.count()).select_from(ItemClick).where(ItemClick.edition_id == edition_id)
    )
    old_ms, old_cpu = _timed(session, grouped, repeats)
    new_ms, new_cpu = _timed(session, tallied, repeats)
    session.rollback()
    return {
        "item_clicks_rows": rows or 0,
        "items_grouped_ms": old_ms,
        "items_grouped_cpu_ms": old_cpu,
        "items_tallied_ms": new_ms,
        "items_tallied_cpu_ms": new_cpu,
        "item_tallies_match_recount": same,
    }


def item_lines(f: dict[str, Any]) -> list[str]:
    """The report's lines (report._line's layout), when the run measured them."""
    if "items_tallied_ms" not in f:
        return []

    def line(name: str, value: str, target: str) -> str:
        return f"{name:<44} {value:>18}   {target:<34}"

    return [
        line("  clicks per item, grouping item_clicks",
             f"{f['items_grouped_ms']:.1f} ms", f"{f['item_clicks_rows']:,} rows, "
             f"CPU {f['items_grouped_cpu_ms']:.1f} ms (client)"),
        line("  clicks per item, item_tallies", f"{f['items_tallied_ms']:.1f} ms",
             f"CPU {f['items_tallied_cpu_ms']:.1f} ms (client); "
             f"equal: {f['item_tallies_match_recount']}"),
    ]
