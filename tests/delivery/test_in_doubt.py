"""Settling in-doubt deliveries: re-queued only on evidence, otherwise left to an editor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from emails import Message
from emails.transports.batch import DELIVERY_TAG
from emails.transports.outbox import OutboxTransport
from tests.delivery.conftest import refresh
from tests.factories import Factories
from webapp.db import database
from webapp.delivery import store
from webapp.delivery.in_doubt import outbox_files, resolve_in_doubt, settle_outbox, settle_ses
from webapp.events import inbox
from webapp.models import (
    AuditEntry,
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    User,
    WorkerHeartbeat,
)
from webapp.models.event import Event, SnsReceipt

NOW = datetime(2024, 7, 20, 2, 0, tzinfo=UTC)
WAIT = timedelta(minutes=30)
WENT_IN_DOUBT = NOW - timedelta(hours=2)


def _row(session: Session, delivery_id: int) -> Delivery:
    row = refresh(session).get(Delivery, delivery_id)
    assert row is not None
    return row


def _in_doubt(factories: Factories, edition: Edition, at: datetime | None = WENT_IN_DOUBT,
              **kw: Any) -> Delivery:
    return factories.delivery(edition, status=DeliveryStatus.IN_DOUBT, in_doubt_at=at,
                              claimed_by="host-b:2", claimed_at=at, **kw)


def _send_event(session: Session, delivery: Delivery, received: datetime) -> None:
    session.add(Event(kind="send", source="ses", delivery_id=delivery.id,
                      edition_id=delivery.edition_id, occurred_at=received,
                      received_at=received))
    session.commit()


def _written_to_outbox(directory: Path, delivery_id: int) -> Path:
    """What the outbox transport leaves for a delivery's message: one file, named by it."""
    before = set(directory.glob("*.eml"))
    message = Message(sender="news@example.com", to="reader@example.com", subject="July",
                      html="<p>July</p>", text="July", tags={DELIVERY_TAG: str(delivery_id)})
    OutboxTransport(directory).send(message)
    (path,) = set(directory.glob("*.eml")) - before
    return path


# --- the outbox: the file is the evidence ---------------------------------------------------


def test_a_delivery_s_outbox_file_is_found_by_its_own_id_only(tmp_path: Path) -> None:
    path = _written_to_outbox(tmp_path, 12)
    (tmp_path / ".x-d1-half-written.tmp").write_text("x")  # a write the outbox never finished
    written = outbox_files(tmp_path)
    assert written.get(12) == path.name
    assert written.get(1) is None
    assert written.get(2) is None


def test_the_outbox_file_is_the_evidence(
    session: Session, factories: Factories, sending_edition: Edition, tmp_path: Path
) -> None:
    written = _in_doubt(factories, sending_edition, error="timeout")
    missing = _in_doubt(factories, sending_edition)
    claimed = factories.delivery(sending_edition, status=DeliveryStatus.SENDING,
                                 claimed_by="host-a:1")
    _written_to_outbox(tmp_path, written.id)

    result = settle_outbox(session, tmp_path, WAIT, NOW)
    session.commit()

    assert (result.sent, result.requeued, result.still_in_doubt) == (1, 1, 0)
    sent = _row(session, written.id)
    assert (sent.status, sent.sent_at, sent.error) == (DeliveryStatus.SENT, NOW, None)
    back = _row(session, missing.id)
    assert (back.status, back.claimed_by, back.in_doubt_at) == (DeliveryStatus.QUEUED, None, None)
    assert _row(session, claimed.id).status == DeliveryStatus.SENDING


def test_a_live_workers_delivery_is_left_to_it_until_the_wait_is_over(
    session: Session, factories: Factories, sending_edition: Edition, tmp_path: Path
) -> None:
    # In doubt means "about to be written": the worker that owns it may be writing right now.
    session.add(WorkerHeartbeat(name="host-b:2", hostname="host-b", pid=2, heartbeat_at=NOW))
    session.commit()
    writing = _in_doubt(factories, sending_edition, at=NOW - timedelta(seconds=1))

    assert settle_outbox(session, tmp_path, WAIT, NOW).requeued == 0
    session.commit()
    assert _row(session, writing.id).status == DeliveryStatus.IN_DOUBT

    later = NOW + WAIT + timedelta(seconds=2)
    session.execute(update(WorkerHeartbeat).values(heartbeat_at=later))
    assert settle_outbox(session, tmp_path, WAIT, later).requeued == 1
    session.commit()
    assert _row(session, writing.id).status == DeliveryStatus.QUEUED


@pytest.mark.postgres
def test_a_send_recorded_while_housekeeping_looks_is_never_turned_back(
    app: Flask, session: Session, factories: Factories, sending_edition: Edition, tmp_path: Path
) -> None:
    row = factories.delivery(sending_edition, status=DeliveryStatus.IN_DOUBT, in_doubt_at=NOW)

    class WorkerFinishesMeanwhile(type(tmp_path)):  # type: ignore[misc]
        def glob(self, pattern: str) -> Iterator[Path]:
            # While housekeeping looks for the file, the worker writes it and records the send.
            (tmp_path / f"20240720T020000000000Z-d{row.id}-x.eml").write_text("x")
            with database(app).sessionmaker() as worker:
                store.mark_sent(worker, row.id, None)
                worker.commit()
            return iter([])  # what the look saw a moment before

    settle_outbox(session, WorkerFinishesMeanwhile(tmp_path), WAIT, NOW)
    session.commit()
    assert _row(session, row.id).status == DeliveryStatus.SENT


# --- SES: re-queued only when SES demonstrably never took it --------------------------------


@pytest.mark.postgres
def test_requeued_only_with_evidence_that_ses_did_not_take_it(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    lost, also_lost = _in_doubt(factories, sending_edition), _in_doubt(factories, sending_edition)
    other = factories.delivery(sending_edition, status=DeliveryStatus.SENT)

    # No Send event at all since: the hook may have been down — no evidence, stays in doubt.
    assert settle_ses(session, WAIT, NOW).requeued == 0

    # The hook received Send events of this send after both went in doubt, but none for them.
    _send_event(session, other, WENT_IN_DOUBT + timedelta(seconds=5))
    too_soon = WENT_IN_DOUBT + timedelta(minutes=10)
    assert settle_ses(session, WAIT, too_soon).requeued == 0
    result = settle_ses(session, WAIT, NOW)
    session.commit()
    assert (result.requeued, result.still_in_doubt) == (2, 0)
    for delivery in (lost, also_lost):
        back = _row(session, delivery.id)
        assert (back.status, back.claimed_by, back.in_doubt_at) == (
            DeliveryStatus.QUEUED, None, None
        )
        assert back.error == "re-queued: SES reported no Send for it while reporting others"


@pytest.mark.postgres
def test_its_own_send_event_means_ses_took_it(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    taken = _in_doubt(factories, sending_edition)
    _send_event(session, taken, WENT_IN_DOUBT + timedelta(seconds=5))
    result = settle_ses(session, WAIT, NOW)
    session.commit()
    assert (result.requeued, result.still_in_doubt) == (0, 1)
    assert _row(session, taken.id).status == DeliveryStatus.IN_DOUBT


@pytest.mark.postgres
def test_only_send_events_of_the_same_send_after_the_doubt_are_evidence(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    august = factories.edition("2024-08", status=EditionStatus.SENDING,
                               items={"policy": [{"topics": ["ai"]}]})
    july = _in_doubt(factories, sending_edition)
    _send_event(session, factories.delivery(august, status=DeliveryStatus.SENT),
                NOW - timedelta(minutes=1))  # another edition's send: says nothing of July's
    _send_event(session, factories.delivery(sending_edition, status=DeliveryStatus.SENT),
                WENT_IN_DOUBT)  # July's, but not after the doubt began
    assert settle_ses(session, WAIT, NOW).requeued == 0
    assert _row(session, july.id).status == DeliveryStatus.IN_DOUBT


@pytest.mark.postgres
def test_the_wait_runs_from_the_moment_it_went_in_doubt(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    row = _in_doubt(factories, sending_edition)
    unknown_since = _in_doubt(factories, sending_edition, at=None)
    _send_event(session, factories.delivery(sending_edition, status=DeliveryStatus.SENT),
                WENT_IN_DOUBT + timedelta(seconds=1))

    assert settle_ses(session, WAIT, WENT_IN_DOUBT + WAIT).requeued == 0
    result = settle_ses(session, WAIT, WENT_IN_DOUBT + WAIT + timedelta(seconds=1))
    session.commit()
    assert (result.requeued, result.still_in_doubt) == (1, 1)
    assert _row(session, row.id).status == DeliveryStatus.QUEUED
    assert _row(session, unknown_since.id).status == DeliveryStatus.IN_DOUBT


@pytest.mark.postgres
def test_a_backlog_of_stored_events_is_no_evidence(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    lost = _in_doubt(factories, sending_edition)
    _send_event(session, factories.delivery(sending_edition, status=DeliveryStatus.SENT),
                WENT_IN_DOUBT + timedelta(seconds=5))
    # Stored by the hook an hour ago, not applied yet: it may be this delivery's own Send.
    inbox.store(session.connection(), [inbox.Notification("sns-1", "arn:topic", "{}")],
          now=NOW - timedelta(hours=1))
    session.commit()
    result = settle_ses(session, WAIT, NOW)
    session.commit()
    assert (result.requeued, result.still_in_doubt) == (0, 1)
    assert _row(session, lost.id).status == DeliveryStatus.IN_DOUBT

    # Once the workers have caught up, the same evidence decides.
    session.execute(update(SnsReceipt).values(processed_at=NOW))
    session.commit()
    assert settle_ses(session, WAIT, NOW).requeued == 1


@pytest.mark.postgres
def test_send_events_are_judged_by_ses_time_not_by_arrival(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    lost = _in_doubt(factories, sending_edition)
    # SES sent it before the doubt began; it reached us (a backlog applied late) after.
    session.add(Event(kind="send", source="ses", edition_id=sending_edition.id,
                      occurred_at=WENT_IN_DOUBT - timedelta(seconds=1),
                      received_at=WENT_IN_DOUBT + timedelta(minutes=5)))
    session.commit()
    assert settle_ses(session, WAIT, NOW).requeued == 0
    assert _row(session, lost.id).status == DeliveryStatus.IN_DOUBT


# --- an editor's choice for what stays in doubt ---------------------------------------------


def _audit(session: Session, action: str) -> list[AuditEntry]:
    return list(refresh(session).scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_resend_puts_the_editions_in_doubt_deliveries_back_in_the_queue(
    session: Session, factories: Factories, sending_edition: Edition, editor: User
) -> None:
    august = factories.edition("2024-08", status=EditionStatus.SENDING,
                               items={"policy": [{"topics": ["ai"]}]})
    ours = [_in_doubt(factories, sending_edition).id for _ in range(2)]
    claimed = factories.delivery(sending_edition, status=DeliveryStatus.SENDING,
                                 claimed_by="host-a:1").id
    theirs = _in_doubt(factories, august).id

    assert resolve_in_doubt(session, sending_edition, resend=True, actor=editor) == 2
    session.commit()

    assert [_row(session, i).status for i in ours] == [DeliveryStatus.QUEUED] * 2
    assert {_row(session, i).claimed_by for i in ours} == {None}
    assert _row(session, claimed).status == DeliveryStatus.SENDING
    assert _row(session, theirs).status == DeliveryStatus.IN_DOUBT
    (entry,) = _audit(session, "edition.in_doubt_resend")
    assert (entry.actor, entry.actor_id, entry.target, entry.detail) == (
        editor.email, editor.id, "2024-07", {"deliveries": 2}
    )


def test_mark_sent_settles_them_as_sent_now(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    row = _in_doubt(factories, sending_edition, error="read timeout")
    with time_machine.travel(NOW, tick=False):
        assert resolve_in_doubt(session, sending_edition, resend=False, actor="cli") == 1
        session.commit()
    sent = _row(session, row.id)
    assert (sent.status, sent.sent_at, sent.error) == (DeliveryStatus.SENT, NOW, None)
    (entry,) = _audit(session, "edition.in_doubt_mark_sent")
    assert (entry.actor, entry.detail) == ("cli", {"deliveries": 1})
    assert _audit(session, "edition.in_doubt_resend") == []
