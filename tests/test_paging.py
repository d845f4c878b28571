"""One page of a console list: which rows, which page number, how many pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from webapp.models import AuditEntry
from webapp.paging import PER_PAGE, Page, contains_pattern, paginate

SINCE = datetime(2024, 7, 1, tzinfo=UTC)


def _entries(session: Session, count: int, action: str = "topic.create") -> list[int]:
    """`count` audit entries (any table with an id would do), oldest first; their ids."""
    session.execute(insert(AuditEntry), [
        {"actor": "cli", "action": action, "target": f"t{n}", "at": SINCE + timedelta(minutes=n)}
        for n in range(count)
    ])
    session.commit()
    return list(session.scalars(select(AuditEntry.id).where(AuditEntry.action == action)
                                .order_by(AuditEntry.id)))


def _ids(session: Session, number: int, per_page: int = 3) -> Page[int]:
    return paginate(session, select(AuditEntry.id).order_by(AuditEntry.id), number, per_page)


def test_a_list_is_cut_into_pages_in_its_order(session: Session) -> None:
    ids = _entries(session, 7)
    first, second, last = (_ids(session, n) for n in (1, 2, 3))
    assert [first.rows, second.rows, last.rows] == [ids[0:3], ids[3:6], ids[6:7]]
    assert (first.number, first.total, first.pages, first.per_page) == (1, 7, 3, 3)
    assert (first.has_previous, first.has_next) == (False, True)
    assert (second.has_previous, second.has_next) == (True, True)
    assert (last.number, last.has_previous, last.has_next) == (3, True, False)


@pytest.mark.parametrize("asked", [0, -1, -50])
def test_a_page_before_the_first_is_the_first(session: Session, asked: int) -> None:
    ids = _entries(session, 4)
    page = _ids(session, asked)
    assert (page.number, page.rows, page.has_previous) == (1, ids[:3], False)


@pytest.mark.parametrize("asked", [3, 4, 1000])
def test_a_page_past_the_last_is_the_last(session: Session, asked: int) -> None:
    ids = _entries(session, 5)  # two pages of three
    page = _ids(session, asked)
    assert (page.number, page.rows, page.has_next) == (2, ids[3:], False)


def test_an_exact_multiple_of_the_page_size_has_no_empty_last_page(session: Session) -> None:
    ids = _entries(session, 6)
    assert _ids(session, 1).pages == 2
    page = _ids(session, 3)
    assert (page.number, page.rows, page.has_next) == (2, ids[3:], False)


def test_an_empty_list_is_one_empty_page(session: Session) -> None:
    for asked in (0, 1, 2):
        page = _ids(session, asked)
        assert (page.rows, page.number, page.total, page.pages) == ([], 1, 0, 1)
        assert not page.has_previous and not page.has_next


def test_pages_hold_fifty_rows_unless_told(session: Session) -> None:
    ids = _entries(session, PER_PAGE + 1)
    stmt = select(AuditEntry.id).order_by(AuditEntry.id)
    first, second = paginate(session, stmt, 1), paginate(session, stmt, 2)
    assert PER_PAGE == 50
    assert (first.per_page, len(first.rows), first.pages) == (50, 50, 2)
    assert second.rows == ids[50:]


def test_the_total_counts_only_what_the_statement_selects(session: Session) -> None:
    _entries(session, 4, action="topic.create")
    wanted = _entries(session, 5, action="user.create")
    stmt = select(AuditEntry.id).where(AuditEntry.action == "user.create")
    page = paginate(session, stmt.order_by(AuditEntry.at.desc()), 1, per_page=2)
    assert (page.total, page.pages) == (5, 3)
    assert page.rows == [wanted[4], wanted[3]]  # the statement's own order, newest first


@pytest.mark.parametrize(("total", "per_page", "pages"), [
    (0, 50, 1), (1, 50, 1), (50, 50, 1), (51, 50, 2), (100, 50, 2), (101, 50, 3), (7, 1, 7),
])
def test_a_page_counts_its_pages_rounding_up(total: int, per_page: int, pages: int) -> None:
    page: Page[int] = Page([], 1, total, per_page)
    assert page.pages == pages
    assert page.has_next == (pages > 1)


@pytest.mark.parametrize(("text", "pattern"), [
    ("Ann", "%ann%"),
    ("50%", "%50\\%%"),
    ("a_b", "%a\\_b%"),
    ("back\\slash", "%back\\\\slash%"),
    ("\\%_", "%\\\\\\%\\_%"),
    ("读者", "%读者%"),
])
def test_a_contains_pattern_lowercases_and_escapes_every_like_wildcard(
    text: str, pattern: str
) -> None:
    assert contains_pattern(text) == pattern
