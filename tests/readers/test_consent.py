"""The consent ledger: one entry per change, under the consent text shown, blanked on erasure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.models import ConsentRecord, ConsentSource, Subscriber
from webapp.readers.consent import (
    CONSENT_VERSION,
    MAX_USER_AGENT,
    ConsentAction,
    Origin,
    record_change,
    record_consent,
    redact_consents,
)

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def _ledger(session: Session, reader: Subscriber) -> list[ConsentRecord]:
    session.expire_all()
    stmt = (
        select(ConsentRecord)
        .where(ConsentRecord.subscriber_id == reader.id)
        .order_by(ConsentRecord.id)
    )
    return list(session.scalars(stmt))


def test_an_entry_says_what_happened_when_from_where_and_under_which_text(
    session: Session, factories: Factories
) -> None:
    reader = factories.subscriber()
    with time_machine.travel(NOW, tick=False):
        record_consent(
            session,
            reader,
            "subscribe",
            ConsentSource.FORM,
            ip="203.0.113.9",
            user_agent="Browser/1.0",
            detail={"topics": ["ai"], "language": "en"},
        )
        session.commit()
    [entry] = _ledger(session, reader)
    assert (entry.action, entry.source, entry.text_version) == (
        "subscribe",
        ConsentSource.FORM,
        CONSENT_VERSION,
    )
    assert (entry.ip, entry.user_agent) == ("203.0.113.9", "Browser/1.0")
    assert entry.detail == {"topics": ["ai"], "language": "en"}
    assert entry.created_at == NOW


def test_an_entry_is_kept_only_if_the_change_it_records_commits(
    session: Session, factories: Factories
) -> None:
    reader = factories.subscriber()
    record_consent(session, reader, "pause", ConsentSource.FORM)
    session.rollback()
    assert _ledger(session, reader) == []


def test_an_entry_can_name_the_reader_by_id(session: Session, factories: Factories) -> None:
    # The SES hook changes readers in Core and has only their id.
    reader = factories.subscriber()
    record_consent(
        session,
        reader.id,
        "complaint",
        ConsentSource.COMPLAINT,
        text_version=None,
        detail={"feedback": "abuse"},
    )
    session.commit()
    [entry] = _ledger(session, reader)
    assert (entry.action, entry.source, entry.text_version) == (
        "complaint",
        ConsentSource.COMPLAINT,
        None,
    )
    assert entry.detail == {"feedback": "abuse"}


def test_an_overlong_address_or_user_agent_is_cut_and_an_empty_one_kept_as_none(
    session: Session, factories: Factories
) -> None:
    reader = factories.subscriber()
    ip = "2001:db8:" + "f" * 100
    record_consent(session, reader, "confirm", ConsentSource.FORM, ip=ip, user_agent="A" * 2000)
    record_consent(session, reader, "tracking", ConsentSource.FORM, ip="", user_agent="")
    session.commit()
    long, empty = _ledger(session, reader)
    assert long.ip == ip[:64]
    assert long.user_agent == "A" * MAX_USER_AGENT
    assert (empty.ip, empty.user_agent) == (None, None)


def test_a_change_is_recorded_from_its_origin_under_the_current_consent_text(
    session: Session, factories: Factories
) -> None:
    reader = factories.subscriber()
    from_mail_client = Origin(ConsentSource.ONE_CLICK, ip="198.51.100.4", user_agent="Mail/2")
    record_change(
        session, reader, ConsentAction.UNSUBSCRIBE, from_mail_client, {"previous_status": "active"}
    )
    record_change(session, reader, ConsentAction.TOPICS, Origin(ConsentSource.ADMIN))
    session.commit()
    unsubscribed, topics = _ledger(session, reader)
    assert (unsubscribed.action, unsubscribed.source) == ("unsubscribe", ConsentSource.ONE_CLICK)
    assert (unsubscribed.ip, unsubscribed.user_agent) == ("198.51.100.4", "Mail/2")
    assert unsubscribed.detail == {"previous_status": "active"}
    assert unsubscribed.text_version == CONSENT_VERSION
    assert (topics.action, topics.source, topics.ip, topics.user_agent, topics.detail) == (
        "topics",
        ConsentSource.ADMIN,
        None,
        None,
        None,
    )


@pytest.mark.postgres
def test_redaction_blanks_who_and_from_where_and_keeps_what_and_when(
    session: Session, factories: Factories
) -> None:
    erin, other = factories.subscriber(), factories.subscriber()
    with time_machine.travel(NOW, tick=False):
        for reader in (erin, other):
            origin = Origin(ConsentSource.FORM, ip="203.0.113.7", user_agent="ErinBrowser")
            record_change(session, reader, ConsentAction.SUBSCRIBE, origin, {"topics": ["ai"]})
            record_change(session, reader, ConsentAction.CONFIRM, origin, {"language": "en"})
        session.commit()

    assert redact_consents(session, erin.id) == 2
    session.commit()

    redacted = _ledger(session, erin)
    assert [(r.action, r.source, r.text_version, r.created_at) for r in redacted] == [
        ("subscribe", ConsentSource.FORM, CONSENT_VERSION, NOW),
        ("confirm", ConsentSource.FORM, CONSENT_VERSION, NOW),
    ]
    assert all(r.ip is None and r.user_agent is None and r.detail is None for r in redacted)
    untouched = _ledger(session, other)
    assert [(r.ip, r.user_agent, r.detail) for r in untouched] == [
        ("203.0.113.7", "ErinBrowser", {"topics": ["ai"]}),
        ("203.0.113.7", "ErinBrowser", {"language": "en"}),
    ]


def test_entries_loaded_before_redaction_show_the_blanks_at_once(
    session: Session, factories: Factories
) -> None:
    # Erasure goes on working with the reader's entries in the same transaction.
    reader = factories.subscriber()
    entry = record_consent(session, reader, "confirm", ConsentSource.FORM, ip="203.0.113.7")
    session.commit()
    assert entry.ip == "203.0.113.7"
    redact_consents(session, reader.id)
    assert entry.ip is None


def test_redacting_a_reader_without_entries_changes_nothing(
    session: Session, factories: Factories
) -> None:
    reader, other = factories.subscriber(), factories.subscriber()
    record_consent(session, other, "subscribe", ConsentSource.FORM, ip="203.0.113.7")
    session.commit()
    assert redact_consents(session, reader.id) == 0
    session.commit()
    assert [r.ip for r in _ledger(session, other)] == ["203.0.113.7"]
