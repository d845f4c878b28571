"""A report file's lines, whatever it came as: PDF, Word (.docx) or plain text.

The kind is told from the bytes, never from the file's name: `%PDF-` opens a PDF (`pdf`), a ZIP
holding `word/document.xml` is a Word file (`word`), anything else must decode as UTF-8 (with or
without a byte order mark), UTF-16 with a byte order mark, or GB18030. Every line keeps where it
came from (a PDF's page, a Word file's paragraph), so an error in the text can name the place in
the file. Files the importer cannot use are refused with a `ReportFileError` saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from webapp.editions.importer.errors import (
    MAX_REPORT_BYTES,
    DamagedFile,
    Kind,
    NotAReportFile,
    Origin,
    ReportTooLarge,
)
from webapp.editions.importer.pdf import read_pdf
from webapp.editions.importer.word import read_docx


@dataclass(frozen=True)
class ReportSource:
    """The report's text, line by line, with where each line came from (None for text files)."""

    kind: Kind
    lines: tuple[str, ...]
    origins: tuple[Origin | None, ...]
    encoding: str = ""  # the text file's encoding; "" for PDF and Word

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def origin(self, line: int) -> Origin | None:
        """Where 1-based `line` came from; None for a text file or line 0."""
        return self.origins[line - 1] if 0 < line <= len(self.origins) else None


def read_limited(stream: IO[bytes], limit: int = MAX_REPORT_BYTES) -> bytes:
    """At most `limit` bytes of an upload; ReportTooLarge without reading further."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ReportTooLarge
    return data


def read_report_file(data: bytes) -> ReportSource:
    """The report's lines from a file's bytes; ReportFileError when it cannot be read."""
    if len(data) > MAX_REPORT_BYTES:
        raise ReportTooLarge
    if b"%PDF-" in data[:1024]:  # the PDF header may follow a little junk
        return _source("pdf", read_pdf(data))
    if data.startswith(b"PK\x03\x04"):
        return _source("docx", read_docx(data))
    return _read_text(data)


def _source(kind: Kind, lines: list[tuple[str, Origin]]) -> ReportSource:
    return ReportSource(kind, tuple(text for text, _ in lines),
                        tuple(origin for _, origin in lines))


# --- text ---------------------------------------------------------------------------------

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
# Binary formats that decode as GB18030 by chance are caught by their NUL bytes; these are
# refused by their signature (the old .doc and .xls, images) for a clearer reason.
_BINARY_SIGNATURES = (b"\xd0\xcf\x11\xe0", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")


def _read_text(data: bytes) -> ReportSource:
    if data.startswith(_BINARY_SIGNATURES):
        raise NotAReportFile
    text, encoding = _decode(data)
    if "\x00" in text:
        raise NotAReportFile
    lines = tuple(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return ReportSource("text", lines, (None,) * len(lines), encoding=encoding)


def _decode(data: bytes) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                raise DamagedFile("text") from None
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise NotAReportFile
