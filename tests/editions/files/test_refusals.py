"""Files the importer cannot use are refused with a clear reason, through the CLI and the
console's upload alike, and nothing is written."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.editions.files.making import password_pdf, with_macros
from webapp.editions.importer.errors import MAX_REPORT_BYTES, ReportTooLarge
from webapp.editions.importer.sources import read_limited
from webapp.models import AuditEntry, Edition, Item


def _nothing_written(session: Session) -> None:
    assert session.scalar(select(func.count(Edition.id))) == 0
    assert session.scalar(select(func.count(Item.id))) == 0
    assert session.scalar(select(func.count(AuditEntry.id))) == 0


def _zip_without_word() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return out.getvalue()


# Each bad file: how to make it, what the CLI says, what the console says (in English).
BAD_FILES: dict[str, tuple[Callable[[bytes, bytes, bytes], bytes], str, str]] = {
    "an image": (
        lambda pdf, scan, word: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64,
        "not a PDF, a Word file (.docx) or a text file",
        "This file is not a PDF, a Word file (.docx) or a text file.",
    ),
    "binary bytes": (
        lambda pdf, scan, word: bytes(range(256)) * 8,
        "not a PDF, a Word file (.docx) or a text file",
        "This file is not a PDF, a Word file (.docx) or a text file.",
    ),
    "a spreadsheet": (
        lambda pdf, scan, word: _zip_without_word(),
        "not a PDF, a Word file (.docx) or a text file",
        "This file is not a PDF, a Word file (.docx) or a text file.",
    ),
    "a PDF with a password": (
        lambda pdf, scan, word: password_pdf(),
        "this PDF needs a password to open",
        "This PDF needs a password to open. Export it again without a password.",
    ),
    "a scanned PDF": (
        lambda pdf, scan, word: scan,
        "this PDF has no text (it is a scan or a picture); export it from Word again",
        "This PDF has no text (it is a scan or a picture); export it from Word again.",
    ),
    "a PDF cut off": (
        lambda pdf, scan, word: pdf[: len(pdf) // 2],
        "this PDF is damaged or incomplete",
        "This PDF is damaged or incomplete and cannot be read.",
    ),
    "a PDF of garbage": (
        lambda pdf, scan, word: b"%PDF-1.7\n" + bytes(range(256)) * 4 + b"\n%%EOF\n",
        "this PDF is damaged or incomplete",
        "This PDF is damaged or incomplete and cannot be read.",
    ),
    "a Word file cut off": (
        lambda pdf, scan, word: word[: len(word) // 2],
        "this Word file is damaged or incomplete",
        "This Word file is damaged or incomplete and cannot be read.",
    ),
    "a Word file with macros": (
        lambda pdf, scan, word: with_macros(word),
        "this Word file contains macros (.docm)",
        "This Word file contains macros (.docm). Save it as a Word document (.docx)",
    ),
}


@pytest.fixture(params=sorted(BAD_FILES))
def bad_file(request: pytest.FixtureRequest, sample_pdf: bytes, sample_scan: bytes,
             sample_docx: bytes) -> tuple[bytes, str, str]:
    make, cli_message, console_message = BAD_FILES[request.param]
    return make(sample_pdf, sample_scan, sample_docx), cli_message, console_message


@pytest.mark.browser
def test_the_cli_refuses_a_bad_file_and_writes_nothing(
    runner: FlaskCliRunner, session: Session, tmp_path: Path, bad_file: tuple[bytes, str, str]
) -> None:
    data, message, _ = bad_file
    path = tmp_path / "report.pdf"  # the name says nothing: the content decides
    path.write_bytes(data)
    result = runner.invoke(args=["import-report", str(path)])
    assert result.exit_code == 1
    assert message in result.output
    _nothing_written(session)


@pytest.mark.browser
def test_the_console_refuses_a_bad_file_and_writes_nothing(
    editor_client: FlaskClient, session: Session, bad_file: tuple[bytes, str, str]
) -> None:
    data, _, message = bad_file
    response = editor_client.post("/editor/editions/new?lang=en",
                                  data={"report_file": (io.BytesIO(data), "report.docx")})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The report could not be read" in page
    assert message in page
    _nothing_written(session)


def test_the_cli_refuses_a_file_over_20_mb_without_reading_it(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:
        handle.truncate(MAX_REPORT_BYTES + 1)  # sparse: nothing to read, only the size
    result = runner.invoke(args=["import-report", str(path)])
    assert result.exit_code == 1
    assert "larger than 20 MB" in result.output
    _nothing_written(session)


def test_the_console_refuses_a_file_over_20_mb(
    editor_client: FlaskClient, session: Session
) -> None:
    data = b"x" * (MAX_REPORT_BYTES + 1)
    response = editor_client.post("/editor/editions/new?lang=en",
                                  data={"report_file": (io.BytesIO(data), "big.txt")})
    assert response.status_code == 400
    assert "The file is larger than 20 MB." in response.get_data(as_text=True)
    _nothing_written(session)


def test_the_console_refuses_a_far_larger_upload_by_its_length(
    editor_client: FlaskClient, session: Session
) -> None:
    """Over the import page's request limit, the upload is refused before the form is read
    (by CSRFProtect or the view), with the import page saying why."""
    data = b"x" * (MAX_REPORT_BYTES + 5 * 1024 * 1024)
    response = editor_client.post("/editor/editions/new?lang=en",
                                  data={"report_file": (io.BytesIO(data), "big.pdf")})
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "The file is larger than 20 MB." in page
    assert 'name="report_file"' in page  # the import page, to try again
    _nothing_written(session)


def test_read_limited_stops_reading_past_the_limit() -> None:
    class Endless(io.RawIOBase):
        served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            buffer[:] = b"x" * len(buffer)
            self.served += len(buffer)
            return len(buffer)

    stream = Endless()
    with pytest.raises(ReportTooLarge):
        read_limited(stream, limit=1000)
    assert stream.served <= 1001
