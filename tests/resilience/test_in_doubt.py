"""The in-doubt rule and stale claims, on the database directly."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.delivery.in_doubt import settle_outbox, settle_ses
from webapp.models import AuditEntry, Delivery, DeliveryStatus, Edition, EditionStatus, utcnow
from webapp.models.event import Event

pytestmark = pytest.mark.servers  # starts servers or processes: not under libfaketime

WAIT = timedelta(minutes=30)


def _deliveries(factories: Factories, count: int, status: DeliveryStatus) -> list[Delivery]:
    edition = factories.edition("2024-07", status=EditionStatus.SENDING,
                                items={"policy": [{"topics": ["ai"]}]})
    rows = []
    for n in range(count):
        reader = factories.subscriber(topics=["ai"])
        rows.append(Delivery(edition_id=edition.id, subscriber_id=reader.id,
                             variant_key="zh-CN:ai", token=f"tok{n}" + "x" * 40, status=status))
    factories.session.add_all(rows)
    factories.session.commit()
    return rows


def _send_event(session: Session, delivery: Delivery, received: object) -> None:
    session.add(Event(kind="send", source="ses", delivery_id=delivery.id,
                      edition_id=delivery.edition_id, occurred_at=received,
                      received_at=received))


@pytest.mark.postgres
def test_requeued_only_with_evidence_that_ses_did_not_take_it(
    session: Session, factories: Factories
) -> None:
    went_in_doubt = utcnow() - timedelta(hours=2)
    lost, other, also_lost = _deliveries(factories, 3, DeliveryStatus.IN_DOUBT)
    for row in (lost, also_lost):
        row.in_doubt_at = went_in_doubt
    other.status = DeliveryStatus.SENT
    session.commit()
    now = utcnow()

    # No Send event at all since: the hook may have been down — no evidence, stays in doubt.
    assert settle_ses(session, WAIT, now).requeued == 0

    # The hook received Send events of this send after both went in doubt, but none for them.
    _send_event(session, other, went_in_doubt + timedelta(seconds=5))
    session.commit()
    too_soon = went_in_doubt + timedelta(minutes=10)
    assert settle_ses(session, WAIT, too_soon).requeued == 0
    result = settle_ses(session, WAIT, now)
    session.commit()
    assert result.requeued == 2 and result.still_in_doubt == 0
    session.expire_all()
    assert session.get(Delivery, lost.id).status == DeliveryStatus.QUEUED  # type: ignore[union-attr]


def test_the_outbox_file_is_the_evidence(
    session: Session, factories: Factories, tmp_path: Path
) -> None:
    written, missing = _deliveries(factories, 2, DeliveryStatus.IN_DOUBT)
    (tmp_path / f"20240701T000000000000Z-d{written.id}-abc_localhost.eml").write_text("x")
    result = settle_outbox(session, tmp_path)
    session.commit()
    assert (result.sent, result.requeued) == (1, 1)
    session.expire_all()
    assert session.get(Delivery, written.id).status == DeliveryStatus.SENT  # type: ignore[union-attr]
    assert session.get(Delivery, missing.id).status == DeliveryStatus.QUEUED  # type: ignore[union-attr]


def test_editors_resolve_what_stays_in_doubt(
    runner: FlaskCliRunner, session: Session, factories: Factories
) -> None:
    first, second = _deliveries(factories, 2, DeliveryStatus.IN_DOUBT)
    shown = runner.invoke(args=["in-doubt", "2024-07"])
    assert "2 deliveries in doubt" in shown.output and "--resend" in shown.output
    assert "2 deliveries marked sent" in runner.invoke(
        args=["in-doubt", "2024-07", "--mark-sent"]).output
    session.expire_all()
    assert {session.get(Delivery, d.id).status for d in (first, second)} == {  # type: ignore[union-attr]
        DeliveryStatus.SENT
    }
    edition = session.get(Edition, first.edition_id)
    assert edition is not None
    audit = session.scalar(
        select(AuditEntry).where(AuditEntry.action == "edition.in_doubt_mark_sent")
    )
    assert audit is not None and audit.target == edition.month and audit.detail == {
        "deliveries": 2
    }


def test_resend_puts_them_back_in_the_queue(
    runner: FlaskCliRunner, session: Session, factories: Factories
) -> None:
    (row,) = _deliveries(factories, 1, DeliveryStatus.IN_DOUBT)
    assert "1 deliveries queued" in runner.invoke(args=["in-doubt", "2024-07", "--resend"]).output
    session.expire_all()
    assert session.get(Delivery, row.id).status == DeliveryStatus.QUEUED  # type: ignore[union-attr]

