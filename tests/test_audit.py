"""The audit log: an entry commits with the change it records; the console searches it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.audit import TARGET_KINDS, AuditFilter, record_audit, search_audit
from webapp.models import AuditEntry, Role

SINCE = datetime(2024, 7, 1, tzinfo=UTC)


def _entry(
    session: Session, action: str, *, actor: str = "cli", target: str = "", minute: int = 0
) -> AuditEntry:
    entry = record_audit(session, action, actor=actor, target=target)
    entry.at = SINCE + timedelta(minutes=minute)
    session.commit()
    return entry


def _found(session: Session, **wanted: object) -> list[tuple[str, str]]:
    page = search_audit(session, AuditFilter(**wanted))  # type: ignore[arg-type]
    return [(e.action, e.target) for e in page.rows]


def test_an_entry_names_the_user_who_acted_and_keeps_the_detail(
    session: Session, factories: Factories
) -> None:
    admin = factories.user(role=Role.ADMIN, email="boss@example.com")
    record_audit(session, "topic.update", actor=admin, target="ai",
                 detail={"fields": ["name_en"], "note": "读者要求"})
    session.commit()
    session.expire_all()
    [entry] = session.scalars(select(AuditEntry))
    assert (entry.actor_id, entry.actor, entry.action, entry.target) == (
        admin.id, "boss@example.com", "topic.update", "ai"
    )
    assert entry.detail == {"fields": ["name_en"], "note": "读者要求"}
    assert entry.at is not None


def test_an_entry_by_the_cli_or_the_system_has_no_user(session: Session) -> None:
    record_audit(session, "subscriber.import", actor="cli")
    record_audit(session, "subscriber.purge", actor="system", target="7 readers")
    session.commit()
    rows = session.execute(
        select(AuditEntry.actor_id, AuditEntry.actor, AuditEntry.target, AuditEntry.detail)
        .order_by(AuditEntry.id)
    ).tuples().all()
    assert rows == [(None, "cli", "", None), (None, "system", "7 readers", None)]


def test_an_entry_is_rolled_back_with_the_change_it_describes(session: Session) -> None:
    record_audit(session, "edition.delete", actor="cli", target="2024-07")
    session.rollback()
    assert session.scalars(select(AuditEntry)).all() == []


def test_the_log_is_searched_newest_first(session: Session) -> None:
    _entry(session, "topic.create", target="old", minute=1)
    _entry(session, "topic.create", target="new", minute=3)
    # Two entries of the same moment: the later one written first.
    _entry(session, "topic.create", target="same-first", minute=2)
    _entry(session, "topic.create", target="same-second", minute=2)
    assert [t for _a, t in _found(session)] == ["new", "same-second", "same-first", "old"]


@pytest.mark.parametrize("kind", TARGET_KINDS)
def test_a_kind_keeps_the_actions_on_that_kind_of_thing(session: Session, kind: str) -> None:
    for n, action in enumerate(["edition.send", "topic.create", "subscriber.erase",
                                "suppression.add", "user.role", "api_key.create",
                                "webhook.create"]):
        _entry(session, action, minute=n)
    assert [a for a, _t in _found(session, kind=kind)] == [
        a for a, _t in _found(session) if a.startswith(f"{kind}.")
    ]
    assert len(_found(session, kind=kind)) == 1


def test_an_unknown_kind_filters_nothing(session: Session) -> None:
    _entry(session, "edition.send", minute=1)
    _entry(session, "user.role", minute=2)
    # A hand-edited URL: `kind=%` or a kind that does not exist is no filter at all.
    for kind in ("", "nonsense", "%", "edition%"):
        assert len(_found(session, kind=kind)) == 2, kind


@pytest.mark.postgres
def test_actor_and_target_match_a_part_in_any_case_and_together(session: Session) -> None:
    _entry(session, "suppression.add", actor="Ann@Example.com", target="Typo@Example.com",
           minute=1)
    _entry(session, "suppression.add", actor="bob@example.com", target="typo@example.org",
           minute=2)
    _entry(session, "topic.create", actor="ann@example.com", target="fintech", minute=3)
    assert _found(session, actor="ANN@") == [("topic.create", "fintech"),
                                             ("suppression.add", "Typo@Example.com")]
    assert _found(session, target="  typo@EXAMPLE  ") == [
        ("suppression.add", "typo@example.org"), ("suppression.add", "Typo@Example.com")
    ]
    assert _found(session, actor="ann", target="typo") == [("suppression.add", "Typo@Example.com")]
    assert _found(session, actor="ann", kind="topic") == [("topic.create", "fintech")]
    assert _found(session, actor="nobody") == []
    assert len(_found(session, actor="   ", target="")) == 3  # blanks are no filter


@pytest.mark.postgres
def test_like_wildcards_typed_in_a_filter_match_only_themselves(session: Session) -> None:
    for minute, target in enumerate(["50% off", "500 off", "a_b", "axb", "c:\\d", "c:d"]):
        _entry(session, "edition.update", target=target, minute=minute)
    assert _found(session, target="50%") == [("edition.update", "50% off")]
    assert _found(session, target="a_b") == [("edition.update", "a_b")]
    assert _found(session, target="c:\\") == [("edition.update", "c:\\d")]
    assert _found(session, target="%") == [("edition.update", "50% off")]
    assert _found(session, target="_") == [("edition.update", "a_b")]
    _entry(session, "user.create", actor="under_score@example.com", minute=9)
    _entry(session, "user.create", actor="underxscore@example.com", minute=10)
    assert [a for a, _t in _found(session, actor="under_")] == ["user.create"]


def test_a_long_log_is_read_page_by_page_and_a_page_past_the_end_is_the_last(
    session: Session,
) -> None:
    for minute in range(51):
        _entry(session, "topic.update", target=f"t{minute}", minute=minute)
    first = search_audit(session, AuditFilter())
    second = search_audit(session, AuditFilter(page=2))
    beyond = search_audit(session, AuditFilter(page=9))
    assert (first.total, first.pages, len(first.rows)) == (51, 2, 50)
    assert first.rows[0].target == "t50"
    assert [e.target for e in second.rows] == ["t0"]
    assert (beyond.number, [e.target for e in beyond.rows]) == (2, ["t0"])
    filtered = search_audit(session, AuditFilter(target="t5", page=1))
    assert filtered.total == 2  # t5 and t50: the count is of the filtered entries
