"""Suppressions as an admin manages them: look up, add by hand, lift only with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.models import AuditEntry, SubscriberStatus, Suppression, User
from webapp.readers.suppression_admin import (
    MAX_NOTE,
    SuppressionError,
    add_suppression,
    remove_suppression,
    search_suppressions,
)
from webapp.readers.suppressions import address_hash

KEY = "test-erasure-key"
SINCE = datetime(2024, 7, 1, 8, tzinfo=UTC)


def _rows(session: Session) -> tuple[int, int]:
    session.expire_all()
    suppressions = session.scalar(select(func.count()).select_from(Suppression)) or 0
    return suppressions, session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def _suppression(session: Session, key: str | None = None, *, hashed_from: str | None = None,
                 reason: str = "bounce", source: str = "ses", days: int = 0) -> Suppression:
    row = Suppression(
        email_key=key,
        address_hash=address_hash(KEY, hashed_from) if hashed_from else None,
        reason=reason,
        source=source,
        created_at=SINCE + timedelta(days=days),
    )
    session.add(row)
    session.commit()
    return row


def _audit(session: Session) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


# Looking up


@pytest.mark.postgres
def test_suppressions_are_found_by_part_of_the_address_reason_or_source(
    session: Session,
) -> None:
    _suppression(session, "bounced@example.com", days=0)
    _suppression(session, "typo@example.com", reason="manual", source="admin", days=1)
    _suppression(session, "100%sure@example.com", reason="complaint", days=2)
    _suppression(session, "under_score@example.com", reason="complaint", days=3)

    def found(text: str) -> list[str | None]:
        return [s.email_key for s in search_suppressions(session, text, 1, erasure_key=KEY).rows]

    assert found("") == [
        "under_score@example.com", "100%sure@example.com", "typo@example.com",
        "bounced@example.com",
    ]
    assert found(" BOUNCED@ ") == ["bounced@example.com"]
    assert found("Manual") == ["typo@example.com"]
    assert found("admin") == ["typo@example.com"]
    assert found("complaint") == ["under_score@example.com", "100%sure@example.com"]
    # LIKE wildcards are taken literally.
    assert found("%") == ["100%sure@example.com"]
    assert found("_") == ["under_score@example.com"]


def test_an_erased_address_is_found_by_its_full_address_only(session: Session) -> None:
    erased = _suppression(session, hashed_from="Gone@example.com", reason="erased",
                          source="reader")
    _suppression(session, "bounced@example.com", days=1)

    def found(text: str, key: str = KEY) -> list[int]:
        return [s.id for s in search_suppressions(session, text, 1, erasure_key=key).rows]

    assert found("gone@example.com") == [erased.id]
    assert found(" GONE@Example.com ") == [erased.id]
    assert found("gone@") == [] and found("gone") == []
    assert found("gone@example.com", key="another-key") == []


def test_a_long_list_is_looked_up_page_by_page(session: Session) -> None:
    for n in range(51):
        session.add(Suppression(email_key=f"r{n}@example.com", reason="bounce", source="ses",
                                created_at=SINCE + timedelta(minutes=n)))
    session.commit()
    first = search_suppressions(session, "", 1, erasure_key=KEY)
    second = search_suppressions(session, "", 2, erasure_key=KEY)
    assert (first.total, len(first.rows), first.rows[0].email_key) == (51, 50, "r50@example.com")
    assert [s.email_key for s in second.rows] == ["r0@example.com"]


# Adding by hand


def test_an_admin_suppresses_an_address_with_a_note(session: Session, admin: User) -> None:
    added = add_suppression(session, "  Typo@Example.com ", "  asked by phone \n", actor=admin)
    session.commit()

    [row] = session.scalars(select(Suppression))
    assert row.id == added.id
    assert (row.email_key, row.reason, row.source, row.note) == (
        "typo@example.com", "manual", "admin", "asked by phone"
    )
    [audit] = _audit(session)
    assert (audit.action, audit.actor, audit.target, audit.detail) == (
        "suppression.add", admin.email, "typo@example.com", {"note": "asked by phone"}
    )


def test_a_blank_note_is_none_and_a_long_one_is_cut(session: Session, admin: User) -> None:
    add_suppression(session, "a@example.com", "   ", actor=admin)
    add_suppression(session, "b@example.com", "x" * (MAX_NOTE + 100), actor=admin)
    session.commit()
    rows = session.execute(select(Suppression.email_key, Suppression.note)).tuples()
    notes = {key: note for key, note in rows}
    assert notes == {"a@example.com": None, "b@example.com": "x" * MAX_NOTE}
    assert [a.detail for a in _audit(session)] == [None, {"note": "x" * MAX_NOTE}]


def test_suppressing_an_address_again_keeps_the_first_reason(
    session: Session, admin: User
) -> None:
    bounced = _suppression(session, "bounced@example.com")
    before = _rows(session)
    again = add_suppression(session, "Bounced@Example.com", "asked", actor=admin)
    session.commit()
    assert again.id == bounced.id
    assert _rows(session) == before
    assert (again.reason, again.source, again.note) == ("bounce", "ses", None)


@pytest.mark.parametrize("address", ["not-an-address", "", "two@@example.com"])
def test_an_invalid_address_is_refused_and_nothing_is_written(
    session: Session, admin: User, address: str
) -> None:
    before = _rows(session)
    with pytest.raises(SuppressionError):
        add_suppression(session, address, "note", actor=admin)
    session.commit()
    assert _rows(session) == before


# Lifting


def test_a_suppression_is_lifted_with_a_reason_kept_in_the_audit_log(
    session: Session, admin: User
) -> None:
    row = _suppression(session, "bounced@example.com")
    remove_suppression(session, row, "  the reader wrote\n to us  ", actor=admin)
    session.commit()

    assert session.scalar(select(Suppression)) is None
    [audit] = _audit(session)
    assert (audit.action, audit.actor, audit.target) == (
        "suppression.remove", admin.email, "bounced@example.com"
    )
    assert audit.detail == {
        "reason": "the reader wrote to us",
        "was": {"reason": "bounce", "source": "ses", "since": SINCE.isoformat()},
    }


def test_a_lifted_erasure_is_logged_by_the_start_of_its_hash(
    session: Session, admin: User
) -> None:
    row = _suppression(session, hashed_from="gone@example.com", reason="erased",
                       source="reader")
    remove_suppression(session, row, "x" * (MAX_NOTE + 1), actor=admin)
    session.commit()
    [audit] = _audit(session)
    assert audit.target == "hash:" + address_hash(KEY, "gone@example.com")[:12]
    assert audit.detail is not None and audit.detail["reason"] == "x" * MAX_NOTE


def test_lifting_a_suppression_leaves_the_readers_status_alone(
    session: Session, factories: Factories, admin: User
) -> None:
    # A bounced reader comes back only by subscribing again themselves.
    reader = factories.subscriber(email="bounced@example.com", status=SubscriberStatus.BOUNCED)
    remove_suppression(session, _suppression(session, "bounced@example.com"), "fixed",
                       actor=admin)
    session.commit()
    session.expire_all()
    assert reader.status == SubscriberStatus.BOUNCED


@pytest.mark.parametrize("reason", ["", "  \n\t "])
def test_a_suppression_is_not_lifted_without_a_reason(
    session: Session, admin: User, reason: str
) -> None:
    row = _suppression(session, "bounced@example.com")
    before = _rows(session)
    with pytest.raises(SuppressionError):
        remove_suppression(session, row, reason, actor=admin)
    session.commit()
    assert _rows(session) == before
