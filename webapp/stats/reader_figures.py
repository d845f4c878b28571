"""Reader-wide figures for the dashboard, from a snapshot refreshed in the background.

Readers per status, who the next edition goes to and the topics readers chose are counted
over every reader (`subscribers`, and `subscriber_topics` at about three rows a reader): at a
million readers those passes take a second or more, where the rest of the dashboard reads
aggregates in milliseconds. No aggregate keeps them (the send figures have tallies kept by
triggers), so the dashboard shows a snapshot at most `max_age` old and says when it was
taken. A request that finds it older still gets it at once and starts one recount in a
thread of its own; only a process's first request waits for the count.
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
        self._refreshing = False
        self.refresh_thread: threading.Thread | None = None  # the latest recount behind

    def get(
        self,
        session: Session,
        sessions: Callable[[], Session],
        now: datetime,
        max_age: timedelta,
    ) -> ReaderFigures:
        """The snapshot; counted now in `session` when there is none yet (or `max_age` is zero:
        always fresh), else recounted behind the request in a session from `sessions` once
        older than `max_age`."""
        with self._lock:
            figures = self._figures
            stale = figures is None or now - figures.taken_at >= max_age
            behind = stale and figures is not None and max_age > timedelta(0)
            behind = behind and not self._refreshing
            if behind:
                self._refreshing = True
        if figures is None or (stale and not behind and max_age <= timedelta(0)):
            figures = count_reader_figures(session, now)
            with self._lock:
                self._figures = figures
            return figures
        if behind:
            self.refresh_thread = threading.Thread(
                target=self._refresh, args=(sessions,), name="reader-figures", daemon=True
            )
            self.refresh_thread.start()
        return figures

    def _refresh(self, sessions: Callable[[], Session]) -> None:
        try:
            with sessions() as session:
                figures = count_reader_figures(session, utcnow())
            with self._lock:
                self._figures = figures
        except Exception:  # the old snapshot stays; the next request tries again
            log.exception("counting the reader figures failed")
        finally:
            with self._lock:
                self._refreshing = False
