"""Importing a month's report from a file an editor uploaded (PDF, Word or text) or from text
pasted in the console; the CLI's `import-report` goes the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from sqlalchemy.orm import Session

from webapp.editions.importer.reading import ReadReport, read_report
from webapp.editions.importer.sources import ReportSource, read_limited, read_report_file
from webapp.editions.records import import_report, suggest_report_topics
from webapp.models import Edition, User


@dataclass(frozen=True)
class ReportLine:
    no: int  # 1-based, as ReportFormatError counts
    text: str
    at_fault: bool


def read_upload(stream: IO[bytes]) -> ReportSource:
    """An uploaded file's lines; ReportFileError (too large: before reading it all) when the
    file cannot be used."""
    return read_report_file(read_limited(stream))


def import_report_source(
    session: Session,
    source: ReportSource | bytes | str,
    *,
    month: str | None = None,
    replace: bool = False,
    allow_incomplete: str | None = None,
    actor: User | str,
) -> Edition:
    """Read, parse, suggest topics and store a draft edition; the caller commits.

    Raises ReportFormatError (with the line, and the page or paragraph of a PDF or Word
    file) for a report the importer cannot read, ReportIncomplete for a report missing what
    its contents lists (unless `allow_incomplete` gives a reason), and import_report's
    EditionExists or EditionLocked for a month that has an edition.
    """
    return store_report(session, read_report(source, month=month), replace=replace,
                        allow_incomplete=allow_incomplete, actor=actor)


def store_report(
    session: Session,
    read: ReadReport,
    *,
    replace: bool = False,
    allow_incomplete: str | None = None,
    actor: User | str,
) -> Edition:
    """A report already read, with its suggested topics and its cleanup, as a draft."""
    return import_report(session, suggest_report_topics(session, read.report), replace=replace,
                         allow_incomplete=allow_incomplete, actor=actor, cleanups=read.cleanups)


def import_report_text(
    session: Session,
    text: str,
    *,
    month: str | None = None,
    replace: bool = False,
    allow_incomplete: str | None = None,
    actor: User | str,
) -> Edition:
    """Pasted or typed-in text; see import_report_source."""
    return import_report_source(session, text, month=month, replace=replace,
                                allow_incomplete=allow_incomplete, actor=actor)


def lines_around(text: str, line: int, radius: int = 4) -> list[ReportLine]:
    """The text's lines near `line` (1-based), numbered, the faulty one marked; [] for line 0."""
    if line <= 0:
        return []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first, last = max(1, line - radius), min(len(lines), line + radius)
    return [ReportLine(no, lines[no - 1], no == line) for no in range(first, last + 1)]
