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
         "skipped", "started_at", "finished_at", "rate_per_s"}
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
