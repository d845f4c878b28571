"""Send progress: DESIGN.md's one JSON shape, read from the edition's tallies.

Split out of the send state machine so that stats and delivery do not import each other: the
consoles, the CLI and the stats pages all read progress from here.

The six counts always add up to `planned`: every delivery is in exactly one of them. They are
the stored statuses, with two corrections that tell an editor what is happening rather than
what the engine wrote down:

- a delivery stored `in_doubt` by a live worker that recorded no error is a message in a call
  right now (the engine marks each chunk in doubt just before its call): it counts as
  `sending`. Only what a worker that is gone left behind, or a call whose answer was lost,
  counts as `in_doubt`;
- a delivery stored `sending` by a worker that is gone goes back to the queue at the next
  housekeeping run (it was never handed over): it counts as `queued`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.delivery.heartbeat import live_workers
from webapp.models import Delivery, DeliveryStatus, Edition, EditionStatus, utcnow
from webapp.stats import tallies

# "Rate now" counts what was sent in the current and the previous UTC minute of the tallies:
# a window of one to two minutes, read from a few rows however large the send.
RATE_WINDOW_MINUTES = 2


def claims_now(session: Session, edition_id: int, now: datetime) -> dict[str, int]:
    """How many `sending` rows belong to no live worker (`orphaned`), and how many `in_doubt`
    rows are a live worker's call in flight (`in_flight`) or were left in doubt (`left`).

    Reads only the edition's claimed and in-doubt rows (the status index bounds them to the
    batches in hand, plus anything a crash left), never the whole send.
    """
    stmt = (
        select(Delivery.status, Delivery.claimed_by, Delivery.error.is_(None), func.count())
        .where(
            Delivery.edition_id == edition_id,
            Delivery.status.in_([DeliveryStatus.SENDING, DeliveryStatus.IN_DOUBT]),
        )
        .group_by(Delivery.status, Delivery.claimed_by, Delivery.error.is_(None))
    )
    rows = list(session.execute(stmt).tuples())
    live = live_workers(session, now) if rows else set()
    found = {"orphaned": 0, "in_flight": 0, "left": 0}
    for status, worker, no_error, count in rows:
        alive = worker is not None and worker in live
        if status == DeliveryStatus.SENDING and not alive:
            found["orphaned"] += count
        elif status == DeliveryStatus.IN_DOUBT:
            found["in_flight" if alive and no_error else "left"] += count
    return found


def _counts(session: Session, edition: Edition, now: datetime) -> dict[str, int]:
    counts = tallies.status_counts(session, edition.id)
    if counts["sending"] or counts["in_doubt"]:
        claims = claims_now(session, edition.id, now)
        # The tallies and this read may straddle a commit (on PostgreSQL each statement sees
        # the latest): a chunk settled in between must not show as in doubt for a moment. So
        # only what this read itself finds left in doubt is shown so, and never more than
        # the tallies hold; the rest of the tallies' in-doubt rows are calls in flight. Moving
        # at most what a count holds keeps the sum at `planned`.
        orphaned = min(claims["orphaned"], counts["sending"])
        counts["sending"] -= orphaned
        counts["queued"] += orphaned
        left = min(claims["left"], counts["in_doubt"])
        counts["sending"] += counts["in_doubt"] - left
        counts["in_doubt"] = left
    return counts


def _minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


def rate_now_per_min(session: Session, edition: Edition, now: datetime) -> float:
    """Messages sent per minute lately: over the current and the previous minute (or since
    the send started, when that is later)."""
    started = edition.send_started_at
    if started is None:
        return 0.0
    end = edition.send_finished_at or now
    window_start = (end - timedelta(minutes=RATE_WINDOW_MINUTES - 1)).replace(
        second=0, microsecond=0
    )
    since = max(window_start, started)
    seconds = (end - since).total_seconds()
    if seconds <= 0:
        return 0.0
    first = _minute(since)
    sent = sum(s for s, _d in tallies.minutes(session, edition.id, since=first).values())
    return round(sent * 60 / seconds, 1)


def send_progress(
    session: Session, edition: Edition, now: datetime | None = None
) -> dict[str, Any]:
    """DESIGN.md's one JSON shape for send progress, extended with `elapsed_s`,
    `rate_now_per_min` and `eta_s` (seconds until queued and sending are done at the rate
    now; None while it cannot be told).

    Counts come from the edition's tallies (a row per variant), not from grouping its
    deliveries: consoles poll this while a send runs.
    """
    now = now or utcnow()
    counts = _counts(session, edition, now)
    started, finished = edition.send_started_at, edition.send_finished_at
    elapsed = ((finished or now) - started).total_seconds() if started else 0.0
    rate_now = rate_now_per_min(session, edition, now)
    remaining = counts["queued"] + counts["sending"]
    eta: int | None = None
    if edition.status == EditionStatus.SENDING:
        if remaining and rate_now > 0:
            eta = round(remaining * 60 / rate_now)
        elif not remaining and not counts["in_doubt"]:
            eta = 0
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
        "elapsed_s": round(max(elapsed, 0.0)),
        "rate_now_per_min": rate_now,
        "eta_s": eta,
    }
