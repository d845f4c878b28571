"""The delivery store: claims, what a claim reads, and how outcomes are written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.delivery.conftest import refresh
from tests.factories import Factories
from webapp.db import database
from webapp.delivery import store
from webapp.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    SubscriberStatus,
    Suppression,
)

NOW = datetime(2024, 7, 20, 2, 0, tzinfo=UTC)


def _row(session: Session, delivery_id: int) -> Delivery:
    row = refresh(session).get(Delivery, delivery_id)
    assert row is not None
    return row


def _statuses(session: Session, ids: list[int]) -> list[DeliveryStatus]:
    return [_row(session, i).status for i in ids]


@pytest.mark.postgres
def test_a_claim_takes_the_lowest_queued_ids_of_its_edition(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    other = factories.edition("2024-08", status=EditionStatus.SENDING,
                              items={"policy": [{"topics": ["ai"]}]})
    doubtful = factories.delivery(sending_edition, status=DeliveryStatus.IN_DOUBT).id
    ours, theirs = [], []
    for _ in range(4):  # the two editions' rows interleave by id
        ours.append(factories.delivery(sending_edition).id)
        theirs.append(factories.delivery(other).id)

    with time_machine.travel(NOW, tick=False):
        claimed = store.claim_batch(session, sending_edition.id, 3, "host-a:1")
        session.commit()

    assert claimed == ours[:3]
    for delivery_id in claimed:
        row = _row(session, delivery_id)
        assert (row.status, row.claimed_by, row.claimed_at) == (
            DeliveryStatus.SENDING, "host-a:1", NOW
        )
    assert _row(session, ours[3]).status == DeliveryStatus.QUEUED
    assert _statuses(session, theirs) == [DeliveryStatus.QUEUED] * 4
    assert _row(session, doubtful).status == DeliveryStatus.IN_DOUBT


@pytest.mark.postgres
def test_a_claimed_row_is_never_claimed_again(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    ids = [factories.delivery(sending_edition).id for _ in range(5)]
    first = store.claim_batch(session, sending_edition.id, 2, "host-a:1")
    session.commit()
    second = store.claim_batch(session, sending_edition.id, 10, "host-b:2")
    session.commit()
    assert (first, second) == (ids[:2], ids[2:])
    assert store.claim_batch(session, sending_edition.id, 10, "host-c:3") == []
    assert [_row(session, i).claimed_by for i in ids] == ["host-a:1"] * 2 + ["host-b:2"] * 3


@pytest.fixture
def second_session(app: Flask) -> Iterator[Session]:
    with database(app).sessionmaker() as other:
        yield other


@pytest.mark.postgres
def test_workers_claiming_at_once_skip_each_others_rows_without_waiting(
    backend: str, session: Session, second_session: Session, factories: Factories,
    sending_edition: Edition,
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has one writer at a time: the worker lock keeps a second out")
    ids = [factories.delivery(sending_edition).id for _ in range(4)]
    first = store.claim_batch(session, sending_edition.id, 2, "host-a:1")  # not committed yet
    # Were the claim to wait for the first worker's row locks, this would fail, not hang.
    second_session.execute(text("SET LOCAL lock_timeout = '2s'"))
    second = store.claim_batch(second_session, sending_edition.id, 2, "host-b:2")
    session.commit()
    second_session.commit()
    assert (first, second) == (ids[:2], ids[2:])


def test_what_a_claim_reads_decides_eligibility_now_not_at_planning(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    stays = factories.subscriber(topics=["ai"], name="Ann", language="en", tracking=False)
    leaves = factories.subscriber(topics=["ai"])
    suppressed = factories.subscriber(topics=["ai"], email="Gone@Example.com")
    pauses = factories.subscriber(topics=["ai"])
    rows = {
        reader.id: factories.delivery(sending_edition, reader, variant_key=f"{reader.language}:ai")
        for reader in (stays, leaves, suppressed, pauses)
    }
    not_asked = factories.delivery(sending_edition)
    # After the plan: one unsubscribes, one address is suppressed, one pauses.
    leaves.status = SubscriberStatus.UNSUBSCRIBED
    pauses.status = SubscriberStatus.PAUSED
    session.add(Suppression(email_key=suppressed.email_key, reason="complaint", source="ses"))
    session.commit()

    claimed = store.load_claimed(session, [d.id for d in reversed(rows.values())])

    assert [c.id for c in claimed] == sorted(d.id for d in rows.values())
    assert not_asked.id not in {c.id for c in claimed}
    by_reader = {c.subscriber_token: c for c in claimed}
    assert {token: c.eligible for token, c in by_reader.items()} == {
        stays.token: True, leaves.token: False, suppressed.token: False, pauses.token: False
    }
    first = by_reader[stays.token]
    delivery = rows[stays.id]
    assert (first.token, first.variant_key, first.email, first.name, first.language,
            first.tracking) == (delivery.token, "en:ai", stays.email, "Ann", "en", False)


def test_back_to_the_queue_forgets_the_claim_and_the_doubt(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    row = factories.delivery(sending_edition, status=DeliveryStatus.IN_DOUBT,
                             claimed_by="host-a:1", claimed_at=NOW, in_doubt_at=NOW)
    untouched = factories.delivery(sending_edition, status=DeliveryStatus.SENDING,
                                   claimed_by="host-a:1", claimed_at=NOW)

    store.set_status(session, [row.id], DeliveryStatus.QUEUED, error="Throttling: slow down")
    session.commit()

    back = _row(session, row.id)
    assert (back.status, back.claimed_by, back.claimed_at, back.in_doubt_at, back.error) == (
        DeliveryStatus.QUEUED, None, None, None, "Throttling: slow down"
    )
    assert back.attempts == 0
    other = _row(session, untouched.id)
    assert (other.status, other.claimed_by) == (DeliveryStatus.SENDING, "host-a:1")


def test_going_in_doubt_records_when_and_keeps_the_claim(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    row = factories.delivery(sending_edition, status=DeliveryStatus.SENDING,
                             claimed_by="host-a:1", claimed_at=NOW)
    later = NOW + timedelta(seconds=3)
    with time_machine.travel(later, tick=False):
        store.set_status(session, [row.id], DeliveryStatus.IN_DOUBT)
        session.commit()
    doubt = _row(session, row.id)
    assert (doubt.status, doubt.in_doubt_at, doubt.claimed_by, doubt.claimed_at) == (
        DeliveryStatus.IN_DOUBT, later, "host-a:1", NOW
    )


def test_only_a_failed_attempt_counts_towards_giving_up(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    failing = [factories.delivery(sending_edition, status=DeliveryStatus.IN_DOUBT,
                                  attempts=n).id for n in (0, 2)]
    retried = factories.delivery(sending_edition, status=DeliveryStatus.IN_DOUBT, attempts=1).id

    store.set_status(session, failing, DeliveryStatus.FAILED, error="MessageRejected: no",
                     failed_attempt=True)
    store.set_status(session, [retried], DeliveryStatus.QUEUED)
    session.commit()

    assert store.attempts_of(session, [*failing, retried, 10**9]) == {
        failing[0]: 1, failing[1]: 3, retried: 1
    }
    assert {_row(session, i).error for i in failing} == {"MessageRejected: no"}
    assert _statuses(session, failing) == [DeliveryStatus.FAILED] * 2


def test_marking_one_sent_keeps_ses_message_id_and_clears_the_error(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    row = factories.delivery(sending_edition, status=DeliveryStatus.IN_DOUBT, error="timeout")
    other = factories.delivery(sending_edition, status=DeliveryStatus.IN_DOUBT)
    with time_machine.travel(NOW, tick=False):
        store.mark_sent(session, row.id, "ses-0001")
        session.commit()
    sent = _row(session, row.id)
    assert (sent.status, sent.message_id, sent.sent_at, sent.error) == (
        DeliveryStatus.SENT, "ses-0001", NOW, None
    )
    assert _row(session, other.id).status == DeliveryStatus.IN_DOUBT


@pytest.mark.postgres
def test_a_chunk_is_marked_sent_in_one_go_each_with_its_own_message_id(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    ids = [factories.delivery(sending_edition, status=DeliveryStatus.IN_DOUBT,
                              error="earlier try").id for _ in range(4)]
    with time_machine.travel(NOW, tick=False):
        store.mark_sent_many(session, [(ids[0], "ses-a"), (ids[1], None), (ids[2], "ses-c")])
        store.mark_sent_many(session, [])
        session.commit()
    rows = [_row(session, i) for i in ids]
    assert [(r.status, r.message_id) for r in rows] == [
        (DeliveryStatus.SENT, "ses-a"),
        (DeliveryStatus.SENT, None),  # the outbox has no SES message id
        (DeliveryStatus.SENT, "ses-c"),
        (DeliveryStatus.IN_DOUBT, None),
    ]
    assert [(r.sent_at, r.error) for r in rows[:3]] == [(NOW, None)] * 3
    assert rows[3].error == "earlier try"


def test_editions_with_work_are_the_sending_ones_with_queued_rows_oldest_first(
    session: Session, factories: Factories
) -> None:
    def edition(month: str, status: EditionStatus, started: datetime | None,
                *deliveries: DeliveryStatus) -> Edition:
        row = factories.edition(month, status=status, send_started_at=started,
                                items={"policy": [{"topics": ["ai"]}]})
        for status_ in deliveries:
            factories.delivery(row, status=status_)
        return row

    later = edition("2024-09", EditionStatus.SENDING, NOW, DeliveryStatus.QUEUED)
    earlier = edition("2024-08", EditionStatus.SENDING, NOW - timedelta(days=1),
                      DeliveryStatus.SENT, DeliveryStatus.QUEUED)
    edition("2024-07", EditionStatus.SENDING, NOW - timedelta(days=2),
            DeliveryStatus.SENDING, DeliveryStatus.IN_DOUBT, DeliveryStatus.SENT)
    edition("2024-06", EditionStatus.PAUSED, NOW - timedelta(days=3), DeliveryStatus.QUEUED)
    edition("2024-05", EditionStatus.CANCELLED, NOW - timedelta(days=4), DeliveryStatus.QUEUED)

    assert later.id < earlier.id  # so the order below is the start's, not the id's
    assert store.editions_with_work(session) == [earlier.id, later.id]
