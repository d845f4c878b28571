"""A month's report as PDF, Word or text (UTF-8 or GB18030) gives the same items, field by
field; the files are made by the tests from the sample (see making.py)."""

from __future__ import annotations

import io
import re

import docx
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.editions.files.making import HEADER, report_docx
from webapp.editions.importer.errors import Origin, ReportFormatError
from webapp.editions.importer.parser import ParsedReport
from webapp.editions.importer.reading import ReadReport, read_report
from webapp.editions.importer.sources import read_report_file
from webapp.models import Edition

FIELDS = ("title", "published_on", "source", "url", "summary", "commentary")


def _fields(report: ParsedReport) -> list[tuple[str, dict[str, object]]]:
    return [(section.key, {name: getattr(item, name) for name in FIELDS})
            for section in report.sections for item in section.items]


def _assert_same_items(read: ReadReport, sample: ReadReport) -> None:
    assert (read.report.title, read.report.month) == (sample.report.title, "2024-07")
    got, expected = _fields(read.report), _fields(sample.report)
    assert len(got) == len(expected) == 26
    for index, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        assert mine == theirs, f"item {index + 1}"


@pytest.mark.browser
def test_the_pdf_gives_the_text_files_items(sample_pdf: bytes, sample: ReadReport) -> None:
    read = read_report(sample_pdf)
    assert read.source.kind == "pdf"
    _assert_same_items(read, sample)


@pytest.mark.browser
def test_the_pdf_was_wrapped_and_radicals_and_ligatures_came_out_of_it(
    sample_pdf: bytes,
) -> None:
    """What makes the PDF test worth having: Chromium wrapped the text its own way, and its
    text layer has the radicals and ligatures the cleanup has to undo."""
    source = read_report_file(sample_pdf)
    raw = source.text
    assert sum(1 for c in raw if "\u2f00" <= c <= "\u2fdf") > 500  # ⽉ for 月 …
    assert any("\ufb00" <= c <= "\ufb06" for c in raw)  # ﬁ inside URLs
    assert "⽉" not in read_report(sample_pdf).clean.text


@pytest.mark.browser
def test_page_headers_and_numbers_are_gone_but_the_first_header(sample_pdf: bytes) -> None:
    lines = [line.strip() for line in read_report_file(sample_pdf).lines]
    headers = [line for line in lines if line.replace("⽉", "月") == HEADER]
    assert len(headers) == 1  # the first, which gives the month
    assert not [line for line in lines if line.isdigit()]  # page numbers


@pytest.mark.browser
def test_each_pdf_line_knows_its_page(sample_pdf: bytes) -> None:
    source = read_report_file(sample_pdf)
    pages = [origin.page for origin in source.origins if origin is not None]
    assert pages == sorted(pages) and pages[0] == 1 and pages[-1] >= 10


def test_the_word_file_gives_the_text_files_items(sample_docx: bytes, sample: ReadReport) -> None:
    read = read_report(sample_docx)
    assert read.source.kind == "docx"
    _assert_same_items(read, sample)


def test_titles_numbered_by_word_itself_are_read_with_their_numbers(
    sample: ReadReport,
) -> None:
    data = report_docx(sample.report, numbered_titles=True)
    document = docx.Document(io.BytesIO(data))
    assert not any(p.text.startswith("1. ") for p in document.paragraphs)  # not typed
    read = read_report(data)
    assert any(line.startswith("10. ") for line in read.source.lines)  # one list, counted on
    _assert_same_items(read, sample)


def test_the_word_file_is_read_with_its_header_contents_and_tables(sample_docx: bytes) -> None:
    source = read_report_file(sample_docx)
    assert source.lines[0] == HEADER and source.origins[0] == Origin(part="header")
    # The automatic table of contents (a w:sdt block, which python-docx's paragraphs skip)…
    document = docx.Document(io.BytesIO(sample_docx))
    assert "目录" not in [p.text for p in document.paragraphs]
    assert "目录" in source.lines
    # …and the dates, which sit in tables.
    assert sum(1 for line in source.lines if line.startswith("发布日期：")) == 26


def test_a_gb18030_copy_gives_the_same_items(sample: ReadReport) -> None:
    data = sample.source.text.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    read = read_report(data)
    assert read.source.encoding == "gb18030"
    _assert_same_items(read, sample)


def test_an_error_in_a_word_file_names_the_paragraph(sample_docx: bytes) -> None:
    document = docx.Document(io.BytesIO(sample_docx))
    paragraph = next(p for p in document.paragraphs if p.text.startswith("链接："))
    paragraph.text = "链接：见附件"
    out = io.BytesIO()
    document.save(out)
    with pytest.raises(ReportFormatError) as refused:
        read_report(out.getvalue())
    error = refused.value
    assert error.origin is not None and error.origin.paragraph is not None
    source = read_report_file(out.getvalue())
    assert source.lines[error.line - 1] == "链接：见附件"
    assert f"line {error.line} (paragraph {error.origin.paragraph}):" in str(error)


@pytest.mark.browser
def test_an_error_in_a_pdf_names_the_page(session_browser: object, sample: ReadReport) -> None:
    from tests.editions.files.making import print_pdf, report_html

    page_html = report_html(sample.report).replace("发布日期：2024年7月18日", "发布日期：不详", 1)
    data = print_pdf(session_browser, page_html)  # type: ignore[arg-type]
    with pytest.raises(ReportFormatError) as refused:
        read_report(data)
    error = refused.value
    assert "invalid date '不详'" in error.reason
    assert error.origin == Origin(page=3)
    assert str(error).startswith(f"line {error.line} (page 3): ")


def test_the_console_shows_the_paragraph_of_a_faulty_line(
    editor_client: FlaskClient, session: Session, sample_docx: bytes
) -> None:
    document = docx.Document(io.BytesIO(sample_docx))
    paragraph = next(p for p in document.paragraphs if p.text.startswith("链接："))
    paragraph.text = "链接：见附件"
    out = io.BytesIO()
    document.save(out)
    response = editor_client.post("/editor/editions/new?lang=en",
                                  data={"report_file": (io.BytesIO(out.getvalue()), "july.docx")})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    at = read_report_file(out.getvalue()).lines.index("链接：见附件") + 1
    assert re.search(rf"Line {at} \(paragraph [0-9]+\): link &#39;见附件&#39; is not an http",
                     page)
    assert "链接：见附件" in page.split("<textarea", 1)[1]  # the file's text, to fix and retry
    assert session.scalar(select(func.count(Edition.id))) == 0


@pytest.mark.browser
def test_a_pdf_without_indents_or_spacing_keeps_every_fields_text(
    session_browser: object, sample: ReadReport
) -> None:
    """Paragraphs set flush and tight leave no sign of where one ends when its last line is
    full: such a line that ends a sentence is taken to end the paragraph, so no text (and no
    label after it) is lost, though a paragraph may come out split in two."""
    from tests.editions.files.making import print_pdf, report_html

    page_html = report_html(sample.report).replace("</style>", "p{text-indent:0;margin:0}</style>")
    read = read_report(print_pdf(session_browser, page_html))  # type: ignore[arg-type]

    def flat(report: ParsedReport) -> list[tuple[str, dict[str, object]]]:
        return [(key, {name: value.replace("\n\n", "") if isinstance(value, str) else value
                       for name, value in fields.items()}) for key, fields in _fields(report)]

    assert flat(read.report) == flat(sample.report)


@pytest.mark.browser
def test_a_flush_paragraph_filling_its_last_line_keeps_the_commentary_label(
    session_browser: object, sample: ReadReport
) -> None:
    """The summary's last line is exactly full (42 characters of 10.5pt on the page's text
    width), and 植德短评 follows flush and tight: joining the two would hide the commentary."""
    from dataclasses import replace

    from tests.editions.files.making import print_pdf, report_html

    section = sample.report.sections[0]
    item = replace(section.items[0], summary="数" * 41 + "。")
    assert item.commentary is not None
    report = replace(sample.report, sections=(replace(section, items=(item,)),
                                              *sample.report.sections[1:]))
    page_html = report_html(report).replace("</style>", "p{text-indent:0;margin:0}</style>")
    read = read_report(print_pdf(session_browser, page_html))  # type: ignore[arg-type]
    first = read.report.sections[0].items[0]
    assert (first.summary, first.commentary) == (item.summary, item.commentary)
