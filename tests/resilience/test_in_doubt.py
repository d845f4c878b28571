"""The `in-doubt` command: what an editor sees and chooses for deliveries left in doubt.

The settling rules themselves are tested on the database in tests/delivery/test_in_doubt.py.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.models import AuditEntry, Delivery, DeliveryStatus, Edition, EditionStatus

pytestmark = pytest.mark.servers  # starts servers or processes: not under libfaketime


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

