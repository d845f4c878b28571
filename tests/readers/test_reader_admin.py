"""Readers as an admin manages them: find, look into, add, change topics, unsubscribe.

Every change is on the admin's word: it goes to the consent ledger with source `admin` and to
the audit log with the admin's name. A change the console cannot make raises and writes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flask import Flask
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.config import settings_of
from webapp.models import (
    AuditEntry,
    ConsentRecord,
    ConsentSource,
    Delivery,
    DeliveryStatus,
    Event,
    Subscriber,
    SubscriberStatus,
    Suppression,
    User,
    subscriber_topics,
)
from webapp.models.base import new_token
from webapp.readers.consent import CONSENT_VERSION
from webapp.readers.reader_admin import (
    MAX_EVENTS,
    AddressErased,
    NewReader,
    ReaderAdminError,
    ReaderExists,
    ReaderFilter,
    add_reader,
    change_topics,
    reader_history,
    search_readers,
    unsubscribe_reader,
)
from webapp.readers.suppressions import address_hash
from webapp.readers.topic_admin import set_retired

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
KEY = "test-erasure-key"
NEW = NewReader(
    email="New.Reader@Example.com",
    topics=["ai", "data"],
    language="en",
    consent_note="  signed up at the\n May seminar ",
    name="  New   Reader ",
    company=" Firm ",
)


def _reader(session: Session, key: str) -> Subscriber:
    session.expire_all()
    found = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
    assert found is not None, key
    return found


def _ledger(session: Session, reader: Subscriber) -> list[ConsentRecord]:
    stmt = select(ConsentRecord).where(ConsentRecord.subscriber_id == reader.id)
    return list(session.scalars(stmt.order_by(ConsentRecord.id)))


def _audit(session: Session) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def _rows(session: Session) -> tuple[int, ...]:
    """How many readers, topic links, ledger entries and audit entries there are."""
    session.expire_all()
    counted: tuple[Any, ...] = (Subscriber, subscriber_topics, ConsentRecord, AuditEntry)
    return tuple(session.scalar(select(func.count()).select_from(t)) or 0 for t in counted)


# Finding readers


def _found(session: Session, **wanted: Any) -> list[str]:
    return [r.email_key or "" for r in search_readers(session, ReaderFilter(**wanted)).rows]


@pytest.mark.postgres
def test_readers_are_found_by_part_of_their_address_name_or_company(
    session: Session, factories: Factories
) -> None:
    factories.subscriber(email="ann@firm.cn", name="Ann Wang")
    factories.subscriber(email="bob@other.cn", company="The FIRM & Co")
    factories.subscriber(email="cat@other.cn", name="王小明")
    factories.subscriber(email="100%real@other.cn")
    factories.subscriber(email="under_score@other.cn")

    assert _found(session, text="FIRM") == ["bob@other.cn", "ann@firm.cn"]
    assert _found(session, text=" wang ") == ["ann@firm.cn"]
    assert _found(session, text="小明") == ["cat@other.cn"]
    # LIKE wildcards are taken literally.
    assert _found(session, text="%") == ["100%real@other.cn"]
    assert _found(session, text="_") == ["under_score@other.cn"]
    assert _found(session, text="nobody") == []


def test_readers_are_filtered_by_status_topic_and_language_newest_first(
    session: Session, factories: Factories
) -> None:
    factories.subscriber(email="ann@example.com", topics=["ai"], language="en")
    factories.subscriber(email="bob@example.com", topics=["data"],
                         status=SubscriberStatus.PAUSED)
    factories.subscriber(email="cat@example.com", topics=["ai", "data"])

    assert _found(session) == ["cat@example.com", "bob@example.com", "ann@example.com"]
    assert _found(session, status="paused") == ["bob@example.com"]
    assert _found(session, topic="ai") == ["cat@example.com", "ann@example.com"]
    assert _found(session, topic="ai", language="en") == ["ann@example.com"]
    assert _found(session, topic="data", status="active") == ["cat@example.com"]
    # An unknown status (a hand-edited URL) filters nothing rather than everything.
    assert len(_found(session, status="gone")) == 3


def test_a_long_list_is_found_page_by_page(session: Session, factories: Factories) -> None:
    factories.many_subscribers(51, [["ai"]])
    first = search_readers(session, ReaderFilter())
    second = search_readers(session, ReaderFilter(page=2))
    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (51, 2, 50, 1)
    assert second.rows[0].id < first.rows[-1].id


# A reader's history


def _delivery(session: Session, factories: Factories, reader: Subscriber, month: str) -> None:
    edition = factories.edition(month)
    session.add(Delivery(edition_id=edition.id, subscriber_id=reader.id, variant_key="zh-CN:ai",
                         token=new_token(), status=DeliveryStatus.SENT))
    session.commit()


def test_a_readers_history_shows_their_ledger_deliveries_and_events_newest_first(
    session: Session, factories: Factories
) -> None:
    reader, other = factories.subscriber(), factories.subscriber()
    for action in ("subscribe", "confirm", "topics"):
        session.add(ConsentRecord(subscriber_id=reader.id, action=action,
                                  source=ConsentSource.FORM))
    session.add(ConsentRecord(subscriber_id=other.id, action="subscribe",
                              source=ConsentSource.FORM))
    _delivery(session, factories, reader, "2024-06")
    _delivery(session, factories, reader, "2024-08")
    _delivery(session, factories, other, "2024-07")
    session.execute(insert(Event), [
        {"kind": "open", "source": "tracking", "subscriber_id": reader.id,
         "occurred_at": NOW - timedelta(days=2)},
        {"kind": "click", "source": "tracking", "subscriber_id": reader.id,
         "occurred_at": NOW},
        {"kind": "delivery", "source": "ses", "subscriber_id": reader.id,
         "occurred_at": NOW},  # same moment: the later row first
        {"kind": "open", "source": "tracking", "subscriber_id": other.id, "occurred_at": NOW},
    ])
    session.commit()

    history = reader_history(session, reader)

    assert [r.action for r in history.ledger] == ["topics", "confirm", "subscribe"]
    assert [month for _, month in history.deliveries] == ["2024-08", "2024-06"]
    assert all(d.subscriber_id == reader.id for d, _ in history.deliveries)
    assert [e.kind for e in history.events] == ["delivery", "click", "open"]


def test_a_readers_history_shows_only_their_latest_events(
    session: Session, factories: Factories
) -> None:
    reader = factories.subscriber()
    session.execute(insert(Event), [
        {"kind": "open", "source": "tracking", "subscriber_id": reader.id,
         "occurred_at": NOW + timedelta(minutes=n)}
        for n in range(MAX_EVENTS + 1)
    ])
    session.commit()
    events = reader_history(session, reader).events
    assert len(events) == MAX_EVENTS
    assert events[0].occurred_at == NOW + timedelta(minutes=MAX_EVENTS)
    assert events[-1].occurred_at == NOW + timedelta(minutes=1)  # the oldest is left out


def test_a_reader_with_no_history_has_an_empty_one(
    session: Session, factories: Factories
) -> None:
    history = reader_history(session, factories.subscriber())
    assert (history.ledger, history.deliveries, history.events) == ([], [], [])


# Adding a reader


def test_an_admin_adds_an_active_reader_with_a_note_on_their_consent(
    session: Session, admin: User
) -> None:
    with time_machine.travel(NOW, tick=False):
        added = add_reader(session, NEW, actor=admin, erasure_key=KEY)
        session.commit()

    reader = _reader(session, "new.reader@example.com")
    assert reader.id == added.id
    assert (reader.email, reader.status, reader.language) == (
        "New.Reader@example.com", SubscriberStatus.ACTIVE, "en"
    )
    assert (reader.name, reader.company, reader.confirmed_at) == ("New Reader", "Firm", NOW)
    assert [t.slug for t in reader.topics] == ["ai", "data"]
    [entry] = _ledger(session, reader)
    assert (entry.action, entry.source, entry.text_version) == (
        "admin-add", ConsentSource.ADMIN, None
    )
    assert entry.detail == {
        "status": "active",
        "topics": ["ai", "data"],
        "language": "en",
        "note": "signed up at the May seminar",
        "by": admin.email,
    }
    [audit] = _audit(session)
    assert (audit.action, audit.actor, audit.actor_id, audit.target) == (
        "subscriber.add", admin.email, admin.id, f"subscriber:{reader.id}"
    )


def test_an_added_reader_is_kept_only_if_the_caller_commits(
    session: Session, admin: User
) -> None:
    before = _rows(session)
    add_reader(session, NEW, actor=admin, erasure_key=KEY)
    session.rollback()
    assert _rows(session) == before


def test_a_topic_given_twice_is_chosen_once_and_a_long_note_is_cut(
    session: Session, admin: User
) -> None:
    wanted = replace(NEW, topics=["data", "ai", "data"], consent_note="x" * 600)
    add_reader(session, wanted, actor=admin, erasure_key=KEY)
    session.commit()
    reader = _reader(session, "new.reader@example.com")
    assert sorted(t.slug for t in reader.topics) == ["ai", "data"]
    [entry] = _ledger(session, reader)
    assert entry.detail is not None and entry.detail["note"] == "x" * 500


@pytest.mark.parametrize(
    "change",
    [
        {"email": "not-an-address"},
        {"email": ""},
        {"language": "fr"},
        {"consent_note": " \n "},
        {"topics": []},
        {"topics": ["no-such-topic"]},
        {"topics": ["ai", "no-such-topic"]},
    ],
    ids=["bad address", "no address", "language", "no note", "no topic", "unknown topic",
         "one unknown topic"],
)
def test_a_reader_the_console_cannot_add_is_refused_and_nothing_is_written(
    session: Session, admin: User, change: dict[str, Any]
) -> None:
    before = _rows(session)
    with pytest.raises(ReaderAdminError):
        add_reader(session, replace(NEW, **change), actor=admin, erasure_key=KEY)
    session.commit()  # even a caller that commits anyway writes nothing
    assert _rows(session) == before


def test_a_retired_topic_cannot_be_chosen_for_a_new_reader(
    session: Session, factories: Factories, admin: User
) -> None:
    factories.topic("legacy", retired=True)
    before = _rows(session)
    with pytest.raises(ReaderAdminError):
        add_reader(session, replace(NEW, topics=["ai", "legacy"]), actor=admin, erasure_key=KEY)
    session.commit()
    assert _rows(session) == before


def test_an_existing_reader_is_not_added_again_and_is_named(
    session: Session, factories: Factories, admin: User
) -> None:
    # The console opens the existing reader instead, whatever their status.
    existing = factories.subscriber(email="new.reader@example.com",
                                    status=SubscriberStatus.UNSUBSCRIBED)
    before = _rows(session)
    with pytest.raises(ReaderAdminError) as refused:
        add_reader(session, NEW, actor=admin, erasure_key=KEY)
    assert isinstance(refused.value, ReaderExists)
    assert refused.value.subscriber.id == existing.id
    session.commit()
    assert _rows(session) == before
    assert _reader(session, "new.reader@example.com").status == SubscriberStatus.UNSUBSCRIBED


def test_a_suppressed_address_cannot_be_added(session: Session, admin: User) -> None:
    session.add(Suppression(email_key="new.reader@example.com", reason="complaint",
                            source="ses"))
    session.commit()
    before = _rows(session)
    with pytest.raises(ReaderAdminError):
        add_reader(session, NEW, actor=admin, erasure_key=KEY)
    session.commit()
    assert _rows(session) == before


def test_an_address_erased_at_the_readers_request_cannot_be_added_by_hand(
    session: Session, admin: User
) -> None:
    # Only its keyed hash is left; the admin's word does not outweigh the reader's own.
    session.add(Suppression(address_hash=address_hash(KEY, "New.Reader@example.com"),
                            reason="erased", source="reader"))
    session.commit()
    before = _rows(session)
    with pytest.raises(AddressErased):
        add_reader(session, NEW, actor=admin, erasure_key=KEY)
    session.commit()
    assert _rows(session) == before
    add_reader(session, NEW, actor=admin, erasure_key="another-key")  # the hash is keyed


# Changing topics and language


def test_a_change_keeps_the_retired_topics_the_reader_has(
    session: Session, factories: Factories, admin: User
) -> None:
    reader = factories.subscriber(topics=["ai", "fintech"], language="zh-CN")
    set_retired(session, factories.topic("fintech"), True, actor=admin)
    session.commit()
    assert change_topics(session, reader, ["ai"], "en", actor=admin)
    session.commit()
    session.expire_all()
    assert sorted(t.slug for t in reader.topics) == ["ai", "fintech"]
    ledger = session.scalars(select(ConsentRecord.action)
                             .where(ConsentRecord.subscriber_id == reader.id))
    assert "topics" not in list(ledger)  # only the language changed


def test_an_admin_changes_a_readers_topics_and_language(
    session: Session, factories: Factories, admin: User
) -> None:
    reader = factories.subscriber(topics=["ai"], language="zh-CN")

    assert change_topics(session, reader, ["fintech", "ai"], "en", actor=admin)
    session.commit()

    session.expire_all()
    assert [t.slug for t in reader.topics] == ["ai", "fintech"] and reader.language == "en"
    topics, language = _ledger(session, reader)
    assert (topics.action, topics.source, topics.text_version) == (
        "topics", ConsentSource.ADMIN, CONSENT_VERSION
    )
    assert topics.detail == {"from": ["ai"], "to": ["ai", "fintech"]}
    assert (language.action, language.source) == ("language", ConsentSource.ADMIN)
    assert language.detail == {"from": "zh-CN", "to": "en"}
    [audit] = _audit(session)
    assert (audit.action, audit.actor, audit.target) == (
        "subscriber.edit", admin.email, f"subscriber:{reader.id}"
    )
    assert audit.detail == {"topics": ["ai", "fintech"], "language": "en"}


def test_only_what_changed_is_recorded(
    session: Session, factories: Factories, admin: User
) -> None:
    reader = factories.subscriber(topics=["ai"], language="zh-CN")
    assert change_topics(session, reader, ["ai"], "en", actor=admin)
    session.commit()
    assert [r.action for r in _ledger(session, reader)] == ["language"]
    [audit] = _audit(session)
    assert audit.detail == {"language": "en"}


def test_the_same_topics_in_another_order_are_no_change(
    session: Session, factories: Factories, admin: User
) -> None:
    reader = factories.subscriber(topics=["ai", "data"], language="en")
    before = _rows(session)
    assert not change_topics(session, reader, ["data", "ai", "data"], "en", actor=admin)
    session.commit()
    assert _rows(session) == before


@pytest.mark.parametrize(
    ("slugs", "language"),
    [([], "en"), (["no-such-topic"], "en"), (["ai", "legacy"], "en"), (["data"], "fr")],
    ids=["no topic", "unknown topic", "retired topic", "language"],
)
def test_a_change_the_console_cannot_make_is_refused_and_changes_nothing(
    session: Session, factories: Factories, admin: User, slugs: list[str], language: str
) -> None:
    factories.topic("legacy", retired=True)
    reader = factories.subscriber(topics=["ai"], language="zh-CN")
    before = _rows(session)
    with pytest.raises(ReaderAdminError):
        change_topics(session, reader, slugs, language, actor=admin)
    session.commit()
    assert _rows(session) == before
    assert [t.slug for t in reader.topics] == ["ai"] and reader.language == "zh-CN"


def test_an_erased_readers_topics_cannot_be_changed(
    session: Session, factories: Factories, admin: User
) -> None:
    reader = factories.subscriber(status=SubscriberStatus.ERASED)
    before = _rows(session)
    with pytest.raises(ReaderAdminError):
        change_topics(session, reader, ["ai"], "en", actor=admin)
    session.commit()
    assert _rows(session) == before


# Unsubscribing on the reader's behalf


@pytest.mark.parametrize(
    "status", [SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED, SubscriberStatus.PENDING]
)
def test_an_admin_unsubscribes_a_reader_on_their_behalf(
    app: Flask, session: Session, factories: Factories, admin: User, status: SubscriberStatus
) -> None:
    reader = factories.subscriber(status=status)

    assert unsubscribe_reader(session, settings_of(app), reader, actor=admin)
    session.commit()

    session.expire_all()
    assert reader.status == SubscriberStatus.UNSUBSCRIBED
    [entry] = _ledger(session, reader)
    assert (entry.action, entry.source, entry.detail) == (
        "unsubscribe", ConsentSource.ADMIN, {"previous_status": status.value}
    )
    [audit] = _audit(session)
    assert (audit.action, audit.actor, audit.target) == (
        "subscriber.unsubscribe", admin.email, f"subscriber:{reader.id}"
    )


@pytest.mark.parametrize(
    "status",
    [SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED,
     SubscriberStatus.ERASED],
)
def test_a_reader_who_is_not_subscribed_is_left_as_they_are(
    app: Flask, session: Session, factories: Factories, admin: User, status: SubscriberStatus
) -> None:
    reader = factories.subscriber(status=status)
    before = _rows(session)
    assert not unsubscribe_reader(session, settings_of(app), reader, actor=admin)
    session.commit()
    assert _rows(session) == before
    assert reader.status == status
