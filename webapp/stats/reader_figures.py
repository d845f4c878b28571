"""Reader-wide figures for the dashboard, from a snapshot refreshed in the background.

Readers per status, who the next edition goes to and the topics readers chose are counted
over every reader (`subscribers`, and `subscriber_topics` at about three rows a reader): at a
million readers those passes take a second or more, where the rest of the dashboard reads
aggregates in milliseconds. No aggregate keeps them (the send figures have tallies kept by
triggers), so the dashboard shows a snapshot at most `max_age` old and says when it was
taken. A request that finds it older still gets it at once and starts one recount in a
thread of its own. A process's first request starts the first count the same way and waits
for it a moment at most (`first_wait`: a small list's figures are on its first page); past
that it gets `Counting` (the dashboard says so) rather than keeping the admin waiting for
a count of a minute at ten million readers. One count runs at a time; one that fails is
logged, and the next request starts another.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from webapp.models import SubscriberStatus, Topic, utcnow
from webapp.readers.subscribers import count_by_status
from webapp.stats.figures import Receiving, readers_receiving, topic_popularity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReaderFigures:
    taken_at: datetime
    by_status: dict[str, int]
    receiving: Receiving
    topics: list[tuple[int, int]]  # (topic id, readers receiving who chose it), topic order

    @property
    def receiving_report(self) -> int:
        """Active and paused: the base of the month-end counts of `reader_growth`."""
        return (
            self.by_status[SubscriberStatus.ACTIVE.value]
            + self.by_status[SubscriberStatus.PAUSED.value]
        )

    def popularity(self, session: Session) -> list[tuple[Topic, int]]:
        """`topic_popularity`'s rows, with this session's topics (topics are a few rows)."""
        rows = []
        for topic_id, count in self.topics:
            topic = session.get(Topic, topic_id)
            if topic is not None:
                rows.append((topic, count))
        return rows


@dataclass(frozen=True)
class Counting:
    """No snapshot yet: the first count, started at `started_at`, is still running."""

    started_at: datetime


def count_reader_figures(session: Session, now: datetime) -> ReaderFigures:
    """The passes over every reader, counted now."""
    by_status = count_by_status(session)
    return ReaderFigures(
        taken_at=now,
        by_status=by_status,
        receiving=readers_receiving(session, by_status),
        topics=[(topic.id, count) for topic, count in topic_popularity(session)],
    )


class ReaderFiguresCache:
    """The latest `ReaderFigures` of one application (so of one database), in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figures: ReaderFigures | None = None
        self._counting_since: datetime | None = None  # a count runs in `refresh_thread`
        self.refresh_thread: threading.Thread | None = None  # the latest count behind

    def get(
        self,
        session: Session,
        sessions: Callable[[], Session],
        now: datetime,
        max_age: timedelta,
        first_wait: timedelta = timedelta(0),
    ) -> ReaderFigures | Counting:
        """The snapshot, recounted behind the request in a session from `sessions` once older
        than `max_age`; counted now in `session` when `max_age` is zero (always fresh). With
        no snapshot yet the first count starts behind too, and the request waits for it
        `first_wait` at most, else gets `Counting`."""
        if max_age <= timedelta(0):
            figures = count_reader_figures(session, now)
            with self._lock:
                self._figures = figures
            return figures
        with self._lock:
            snapshot = self._figures
            if snapshot is not None and now - snapshot.taken_at < max_age:
                return snapshot
            thread = self.refresh_thread
            if self._counting_since is None:  # none running: start one
                self._counting_since = now
                thread = threading.Thread(
                    target=self._refresh,
                    args=(sessions, now if snapshot is None else None),
                    name="reader-figures",
                    daemon=True,
                )
                self.refresh_thread = thread
                thread.start()
            started_at = self._counting_since or now
        if snapshot is not None:
            return snapshot
        if thread is not None and first_wait > timedelta(0):
            thread.join(first_wait.total_seconds())
        with self._lock:
            return self._figures or Counting(started_at)

    def _refresh(self, sessions: Callable[[], Session], taken_at: datetime | None) -> None:
        """Count in a session of the thread's own; `taken_at` is the first count's request
        time (the recounts' is the clock's)."""
        try:
            with sessions() as session:
                figures = count_reader_figures(session, taken_at or utcnow())
            with self._lock:
                self._figures = figures
        except Exception:  # the old snapshot (if any) stays; the next request tries again
            log.exception("counting the reader figures failed")
        finally:
            with self._lock:
                self._counting_since = None
