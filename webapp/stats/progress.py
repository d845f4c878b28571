"""Send progress: DESIGN.md's one JSON shape, read from the edition's tallies.

Split out of the send state machine so that stats and delivery do not import each other: the
consoles, the CLI and the stats pages all read progress from here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from webapp.models import Edition, utcnow
from webapp.stats import tallies


def send_progress(session: Session, edition: Edition) -> dict[str, Any]:
    """DESIGN.md's one JSON shape for send progress.

    Counts come from the edition's tallies (a row per variant), not from grouping its
    deliveries: consoles poll this while a send runs.
    """
    counts = tallies.status_counts(session, edition.id)
    started, finished = edition.send_started_at, edition.send_finished_at
    elapsed = ((finished or utcnow()) - started).total_seconds() if started else 0.0
    return {
        "month": edition.month,
        "status": edition.status.value,
        "planned": sum(counts.values()),
        "queued": counts["queued"],
        "sending": counts["sending"],
        "in_doubt": counts["in_doubt"],
        "sent": counts["sent"],
        "failed": counts["failed"],
        "skipped": counts["skipped"],
        "started_at": started.isoformat() if started else None,
        "finished_at": finished.isoformat() if finished else None,
        "rate_per_s": round(counts["sent"] / elapsed, 2) if elapsed > 0 else 0.0,
    }
