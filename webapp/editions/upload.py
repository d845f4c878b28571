"""Importing a month's report from text an editor uploaded or pasted in the console."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from webapp.editions.importer.errors import ReportFormatError
from webapp.editions.importer.parser import parse_report
from webapp.editions.records import import_report, suggest_report_topics
from webapp.models import Edition, User


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
    allow_incomplete: str | None = None,
    actor: User | str,
) -> Edition:
    """Parse, suggest topics and store a draft edition; the caller commits.

    Raises ReportFormatError (with the line) for text the importer cannot read,
    ReportIncomplete for a report missing what its contents lists (unless `allow_incomplete`
    gives a reason), and import_report's EditionExists or EditionLocked for a month that has
    an edition.
    """
    report = parse_report(text, month=month)
    return import_report(session, suggest_report_topics(session, report), replace=replace,
                         allow_incomplete=allow_incomplete, actor=actor)


def lines_around(text: str, line: int, radius: int = 4) -> list[ReportLine]:
    """The text's lines near `line` (1-based), numbered, the faulty one marked; [] for line 0."""
    if line <= 0:
        return []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first, last = max(1, line - radius), min(len(lines), line + radius)
    return [ReportLine(no, lines[no - 1], no == line) for no in range(first, last + 1)]
