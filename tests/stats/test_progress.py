"""webapp.stats.progress: DESIGN.md's one JSON shape, read from the tallies as a send moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.delivery import sending
from webapp.models import Delivery, DeliveryStatus, Edition
from webapp.stats.progress import send_progress

SHAPE = {"month", "status", "planned", "queued", "sending", "in_doubt", "sent", "failed",
         "skipped", "started_at", "finished_at", "rate_per_s", "elapsed_s", "rate_now_per_min",
         "eta_s"}
STARTED = datetime(2026, 5, 6, 2, tzinfo=UTC)


@pytest.mark.postgres
def test_progress_counts_every_state_and_the_rate(
    factories: Factories, session: Session, approved: Edition
) -> None:
    for _ in range(4):
        factories.subscriber(topics=["ai"])
    with time_machine.travel(STARTED, tick=False):
        sending.start_send(session, approved, actor="test")
        session.commit()
        progress = send_progress(session, approved)
    assert set(progress) == SHAPE
    assert (progress["status"], progress["planned"], progress["queued"]) == ("sending", 4, 4)
    assert progress["rate_per_s"] == 0.0 and progress["finished_at"] is None

    ids = sorted(session.scalars(select(Delivery.id)))
    session.execute(update(Delivery).where(Delivery.id.in_(ids[:3]))
                    .values(status=DeliveryStatus.SENT))
    session.execute(update(Delivery).where(Delivery.id == ids[3])
                    .values(status=DeliveryStatus.FAILED))
    session.commit()
    with time_machine.travel(STARTED + timedelta(seconds=2), tick=False):
        progress = send_progress(session, approved)
    assert (progress["queued"], progress["sent"], progress["failed"]) == (0, 3, 1)
    assert progress["planned"] == 4 and progress["rate_per_s"] == 1.5


@pytest.mark.postgres
def test_rate_now_counts_the_last_minute_or_two_and_gives_the_eta(
    factories: Factories, session: Session, approved: Edition
) -> None:
    for _ in range(20):
        factories.subscriber(topics=["ai"])
    with time_machine.travel(STARTED, tick=False):
        sending.start_send(session, approved, actor="test")
        session.commit()
    ids = sorted(session.scalars(select(Delivery.id)))

    def sent_at(chosen: list[int], moment: datetime) -> None:
        session.execute(update(Delivery).where(Delivery.id.in_(chosen))
                        .values(status=DeliveryStatus.SENT, sent_at=moment))
        session.commit()

    sent_at(ids[:10], STARTED + timedelta(seconds=30))  # a fast first minute …
    # Early on the window is the time since the start.
    early = send_progress(session, approved, now=STARTED + timedelta(seconds=40))
    assert early["rate_now_per_min"] == 15.0  # ten in 40 s
    assert early["eta_s"] == 40  # ten left at fifteen a minute

    sent_at(ids[10:13], STARTED + timedelta(minutes=2, seconds=10))  # … then slower
    sent_at(ids[13:16], STARTED + timedelta(minutes=2, seconds=40))
    progress = send_progress(session, approved, now=STARTED + timedelta(minutes=3))
    assert sum(progress[k] for k in ("queued", "sending", "sent", "failed", "skipped",
                                     "in_doubt")) == progress["planned"] == 20
    # The window is the current and the previous minute: 02:02 and 02:03, so six in 60 s.
    assert progress["rate_now_per_min"] == 6.0
    assert progress["elapsed_s"] == 180
    assert progress["eta_s"] == 40  # four queued at six a minute
    assert progress["rate_per_s"] == round(16 / 180, 2)  # the average since the start

    # Nothing sent for two minutes: the rate now is zero and the ETA cannot be told.
    stalled = send_progress(session, approved, now=STARTED + timedelta(minutes=5))
    assert (stalled["rate_now_per_min"], stalled["eta_s"]) == (0.0, None)

