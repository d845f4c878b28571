"""A report from a file or pasted text to parsed items, the one way every import goes:
read the file's lines (`sources`), clean them (`cleanup`), parse them (`parser`)."""

from __future__ import annotations

from dataclasses import dataclass

from webapp.editions.importer.cleanup import CleanText, LineChange, clean_lines, field_changes
from webapp.editions.importer.errors import ReportFormatError
from webapp.editions.importer.parser import ParsedItem, ParsedReport, parse_report
from webapp.editions.importer.sources import ReportSource, read_report_file

# What the cleanup changed in one item: {field: {"before": …, "after": …}}.
Cleanup = dict[str, dict[str, str]]


@dataclass(frozen=True)
class ReadReport:
    source: ReportSource
    clean: CleanText
    report: ParsedReport
    cleanups: dict[int, Cleanup]  # by the item's title line (ParsedItem.line); changed only


def text_source(text: str) -> ReportSource:
    """Text an editor pasted or a caller already holds, as a source without origins."""
    lines = tuple(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return ReportSource("text", lines, (None,) * len(lines))


def read_report(data: ReportSource | bytes | str, *, month: str | None = None) -> ReadReport:
    """Read, clean and parse a report; ReportFormatError (a ReportFileError for a file that
    cannot be read at all) with the line and, for PDF and Word, the page or paragraph."""
    if isinstance(data, ReportSource):
        source = data
    else:
        source = text_source(data) if isinstance(data, str) else read_report_file(data)
    clean = clean_lines(source.lines)
    try:
        report = parse_report(clean.text, month=month, paragraph_lines=source.kind != "text")
    except ReportFormatError as error:
        raise ReportFormatError(error.line, error.reason, source.origin(error.line)) from None
    return ReadReport(source, clean, report, _cleanups(report, clean.changes))


def _cleanups(report: ParsedReport, changes: tuple[LineChange, ...]) -> dict[int, Cleanup]:
    """Each item's changed fields, from the cleaned lines between its title and the next's."""
    items = sorted((item for section in report.sections for item in section.items),
                   key=lambda item: item.line)
    found: dict[int, Cleanup] = {}
    for item, following in zip(items, [*items[1:], None], strict=True):
        end = following.line if following is not None else None
        own = [c for c in changes if c.no >= item.line and (end is None or c.no < end)]
        if own and (fields := field_changes(_text_fields(item), own)):
            found[item.line] = fields
    return found


def _text_fields(item: ParsedItem) -> dict[str, str | None]:
    return {"title": item.title, "source": item.source, "url": item.url,
            "summary": item.summary, "commentary": item.commentary}
