from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.delivery import sending
from webapp.delivery.sending import SendError
from webapp.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    SubscriberStatus,
    Suppression,
)


@pytest.mark.postgres
def test_the_plan_writes_one_row_per_eligible_reader(
    session: Session, factories: Factories, approved: Edition
) -> None:
    ai = factories.subscriber(topics=["ai"])
    both = factories.subscriber(topics=["data", "ai"], language="en")
    factories.subscriber(topics=["cross-border"])  # no item carries it
    factories.subscriber(topics=["ai"], status=SubscriberStatus.PAUSED)
    factories.subscriber(topics=["ai"], status=SubscriberStatus.PENDING)
    factories.subscriber(topics=["ai"], status=SubscriberStatus.UNSUBSCRIBED)
    gone = factories.subscriber(topics=["ai"], email="gone@example.com")
    session.add(Suppression(email_key="gone@example.com", reason="bounce", source="ses"))
    session.commit()

    edition = sending.load_edition(session, "2024-07")
    plan = sending.start_send(session, edition, actor="test")
    session.commit()

    assert (plan.planned, plan.excluded_no_match, plan.excluded_suppressed) == (2, 1, 1)
    assert plan.excluded_paused == 1 and plan.excluded == 3
    rows = {d.subscriber_id: d for d in session.scalars(select(Delivery))}
    assert set(rows) == {ai.id, both.id}
    assert gone.id not in rows
    assert rows[ai.id].variant_key == "zh-CN:ai"
    assert rows[both.id].variant_key == "en:ai,data"
    assert all(d.status == DeliveryStatus.QUEUED for d in rows.values())
    tokens = [d.token for d in rows.values()]
    assert len(set(tokens)) == 2 and all(len(t) == 64 for t in tokens)
    assert edition.status == EditionStatus.SENDING and edition.send_started_at is not None


@pytest.mark.postgres
def test_a_send_cannot_be_planned_twice(
    session: Session, factories: Factories, approved: Edition
) -> None:
    factories.subscriber(topics=["ai"])
    edition = sending.load_edition(session, "2024-07")
    sending.start_send(session, edition, actor="test")
    session.commit()
    with pytest.raises(SendError, match="it is sending"):
        sending.start_send(session, edition, actor="test")
    factories.subscriber(topics=["ai"])  # joins later: does not get this edition
    assert session.scalar(select(func.count(Delivery.id))) == 1


def test_an_edition_must_be_approved_before_sending(
    session: Session, factories: Factories
) -> None:
    factories.edition("2024-08", items={"policy": [{"topics": ["ai"]}]})
    edition = sending.load_edition(session, "2024-08")
    with pytest.raises(SendError, match="draft, not approved or scheduled"):
        sending.start_send(session, edition, actor="test")
    sending.approve(session, edition, actor="test")
    assert edition.status == EditionStatus.APPROVED


def test_approve_refuses_an_edition_no_reader_could_get(
    session: Session, factories: Factories
) -> None:
    factories.edition("2024-09", items={"policy": [{}]})
    edition = sending.load_edition(session, "2024-09")
    with pytest.raises(SendError, match=r"no item .* has a topic"):
        sending.approve(session, edition, actor="test")
    assert edition.status == EditionStatus.DRAFT


def test_a_plan_with_nobody_ends_as_sent(session: Session, approved: Edition) -> None:
    edition = sending.load_edition(session, "2024-07")
    plan = sending.start_send(session, edition, actor="test")
    assert plan.planned == 0
    assert edition.status == EditionStatus.SENT


@pytest.mark.postgres
def test_pause_resume_cancel_follow_the_states(
    session: Session, factories: Factories, approved: Edition
) -> None:
    for _ in range(3):
        factories.subscriber(topics=["ai"])
    edition = sending.load_edition(session, "2024-07")
    with pytest.raises(SendError):
        sending.pause(session, edition, actor="test")
    sending.start_send(session, edition, actor="test")
    sending.pause(session, edition, actor="test")
    assert edition.status == EditionStatus.PAUSED
    with pytest.raises(SendError):
        sending.pause(session, edition, actor="test")
    sending.resume(session, edition, actor="test")
    assert edition.status == EditionStatus.SENDING
    assert sending.cancel(session, edition, actor="test") == 3
    session.commit()
    statuses = set(session.scalars(select(Delivery.status)))
    assert statuses == {DeliveryStatus.SKIPPED}
    with pytest.raises(SendError):
        sending.resume(session, edition, actor="test")
