"""Importing a month's report from text an editor uploaded or pasted in the console."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.editions.importer.errors import ReportFormatError
from webapp.editions.importer.parser import parse_report
from webapp.editions.items import EditionLocked
from webapp.editions.records import EditionError, import_report, suggest_report_topics
from webapp.models import Edition, EditionStatus, User


class EditionExists(EditionError):
    """The month already has an edition and the editor did not ask to replace it."""

    def __init__(self, month: str, status: EditionStatus) -> None:
        self.month = month
        self.status = status
        super().__init__(f"an edition for {month} already exists ({status.value})")


@dataclass(frozen=True)
class ReportLine:
    no: int  # 1-based, as ReportFormatError counts
    text: str
    at_fault: bool


def decode_report(data: bytes) -> str:
    """An uploaded file's text; anything but UTF-8 is the importer's own kind of error."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReportFormatError(0, f"the file is not UTF-8 text (byte {error.start})") from None


def import_report_text(
    session: Session,
    text: str,
    *,
    month: str | None = None,
    replace: bool = False,
    actor: User | str,
) -> Edition:
    """Parse, suggest topics and store a draft edition; the caller commits.

    Raises ReportFormatError (with the line) for text the importer cannot read, EditionExists
    when the month has an edition and `replace` is off, EditionLocked when that edition is past
    approval (a scheduled or sent edition is never replaced).
    """
    report = parse_report(text, month=month)
    existing = session.scalar(select(Edition).where(Edition.month == report.month))
    if existing is not None:
        if not existing.editable:
            raise EditionLocked(existing)
        if not replace:
            raise EditionExists(existing.month, existing.status)
    return import_report(session, suggest_report_topics(session, report), replace=replace,
                         actor=actor)


def lines_around(text: str, line: int, radius: int = 4) -> list[ReportLine]:
    """The text's lines near `line` (1-based), numbered, the faulty one marked; [] for line 0."""
    if line <= 0:
        return []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first, last = max(1, line - radius), min(len(lines), line + radius)
    return [ReportLine(no, lines[no - 1], no == line) for no in range(first, last + 1)]
