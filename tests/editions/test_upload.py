"""webapp.editions.upload: a report's text into a draft edition, errors with the line."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.editor.conftest import SAMPLE
from tests.factories import Factories
from webapp.editions.importer.errors import NotAReportFile, ReportFormatError
from webapp.editions.importer.sources import read_report_file
from webapp.editions.records import EditionExists, EditionLocked
from webapp.editions.upload import (
    import_report_text,
    lines_around,
)
from webapp.models import Edition, EditionStatus, Item

TEXT = SAMPLE.read_text(encoding="utf-8")


def test_the_july_report_becomes_a_draft_with_suggested_topics(session: Session) -> None:
    edition = import_report_text(session, TEXT, actor="tester")
    session.commit()
    assert (edition.month, edition.status) == ("2024-07", EditionStatus.DRAFT)
    items = [i for s in edition.sections for i in s.items]
    assert len(items) == 26
    assert all(item.topics for item in items)


def test_a_month_with_an_edition_needs_replace(session: Session, factories: Factories) -> None:
    factories.edition("2024-07", items={"policy": [{"title": "old"}]})
    with pytest.raises(EditionExists) as refused:
        import_report_text(session, TEXT, actor="tester")
    assert (refused.value.month, refused.value.status) == ("2024-07", EditionStatus.DRAFT)
    session.rollback()
    edition = import_report_text(session, TEXT, replace=True, actor="tester")
    session.commit()
    assert session.scalar(select(func.count(Edition.id))) == 1
    assert session.scalar(select(func.count(Item.id))) == 26
    assert edition.month == "2024-07"


def test_a_sent_edition_is_never_replaced(session: Session, factories: Factories) -> None:
    factories.edition("2024-07", status=EditionStatus.SENT, items={"policy": [{"title": "old"}]})
    with pytest.raises(EditionLocked):
        import_report_text(session, TEXT, replace=True, actor="tester")
    session.rollback()
    assert session.scalars(select(Item.title)).all() == ["old"]


def test_the_month_can_be_given_for_a_report_without_a_header(session: Session) -> None:
    edition = import_report_text(session, TEXT, month="2024-08", actor="tester")
    assert edition.month == "2024-08"


def test_a_format_error_names_the_line_and_the_text_around_it_is_shown() -> None:
    lines = TEXT.split("\n")
    broken_at = next(n for n, line in enumerate(lines, 1) if line.startswith("发布日期"))
    lines[broken_at - 1] = "发布日期：七月某日"
    broken = "\n".join(lines)
    with pytest.raises(ReportFormatError) as refused:
        import_report_text_without_db(broken)
    assert refused.value.line == broken_at
    around = lines_around(broken, refused.value.line, radius=2)
    assert [line.no for line in around] == list(range(broken_at - 2, broken_at + 3))
    assert [line.no for line in around if line.at_fault] == [broken_at]
    assert next(line.text for line in around if line.at_fault) == "发布日期：七月某日"


def import_report_text_without_db(text: str) -> None:
    from webapp.editions.importer.parser import parse_report

    parse_report(text)


def test_lines_around_stays_inside_the_text_and_ignores_line_zero() -> None:
    assert [line.no for line in lines_around("a\nb\nc", 1, radius=4)] == [1, 2, 3]
    assert [line.no for line in lines_around("a\r\nb\r\nc", 3, radius=1)] == [2, 3]
    assert lines_around("a\nb", 0) == []


def test_text_files_are_utf8_with_or_without_bom_utf16_or_gb18030() -> None:
    for data, encoding in [("\ufeff月报".encode(), "utf-8-sig"), ("月报".encode(), "utf-8"),
                           ("月报".encode("utf-16"), "utf-16"),
                           ("月报".encode("gb18030"), "gb18030")]:
        source = read_report_file(data)
        assert (source.lines, source.encoding) == (("月报",), encoding)
    with pytest.raises(NotAReportFile):
        read_report_file(b"\xff\xd8\xff\xe0 a photo")
