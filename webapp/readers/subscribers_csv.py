"""Readers from and to CSV: `email,name,topics,language,status`.

An import is checked whole before anything is written: every bad row is reported with its line
number, column and reason, and nothing is imported unless all rows are valid (or the caller
asks to skip bad ones). Topics are named by short name or name, separated by ; , 、 or |; a row
without topics is refused unless the admin chose to give such readers every topic. Every
imported reader's consent record keeps the admin's attestation of how the list agreed.

The writing is set-based (webapp.readers.csv_writes): a few statements per thousand rows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from email_validator import EmailNotValidError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from webapp.audit import record_audit
from webapp.models import (
    Subscriber,
    SubscriberStatus,
    Topic,
    User,
    email_key,
)
from webapp.plain_text import find_unsafe
from webapp.readers.csv_values import (
    Attestation,
    TopicIndex,
    language_of,
    normalized_address,
    topic_values,
)
from webapp.readers.csv_writes import (
    CHUNK,
    Current,
    Written,
    current_readers,
    is_postgresql,
    suppressed_among,
    write_guarded_pg,
    write_rows,
)

COLUMNS = ("email", "name", "topics", "language", "status")
IMPORTABLE_STATUSES = (
    SubscriberStatus.PENDING,
    SubscriberStatus.ACTIVE,
    SubscriberStatus.PAUSED,
    SubscriberStatus.UNSUBSCRIBED,
)
# Readers who left (or whose mail bounced or complained) come back only by subscribing
# themselves; a list upload must not opt them in again.
LEFT = frozenset(
    {
        SubscriberStatus.UNSUBSCRIBED,
        SubscriberStatus.BOUNCED,
        SubscriberStatus.COMPLAINED,
        SubscriberStatus.ERASED,
    }
)
# webapp.plain_text's single-line rule without CR and LF (the CSV's own line ends).
_REFUSED_BUT_LINE_ENDS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]"
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_NAME = 200

# The English of each reason a row (or the file) is refused: the CLI's and the logs' words.
# The console says them in the page's language (webapp.admin.import_reasons), by `code`.
_ENGLISH: dict[str, str] = {
    "email_empty": "the email is empty",
    "email_invalid": "{value!r} is not a valid email address",
    "name_too_long": "the name is longer than {limit} characters",
    "topic_unknown": "unknown topic {value!r} (the import page lists the topics)",
    "topic_retired": "topic {value!r} is retired",
    "topics_missing": "no topics: name at least one, or choose to give readers without topics "
    "every topic",
    "topic_gone": "a topic of this row is retired or gone",
    "language_unknown": "language must be one of zh-CN or en (or zh, 中文, en-US…), not {value!r}",
    "status_unknown": "status must be one of {allowed}, not {value!r}",
    "duplicate": "{email} is already on line {first}",
    "too_many_cells": "more cells than columns",
    "suppressed": "{email} is suppressed and cannot be imported",
    "left": "{email} is {status}; only the reader can subscribe again",
    "unsafe_char": "control character U+{code} at character {position}",
    "line_break": "line break at character {position} is not allowed here",
    "unclosed_quote": 'a quote (") opens the cell and is not closed on the same line; quote a '
    'whole cell, and write a quote inside it twice ("")',
    "after_quote": "text after a closing quote; a quoted cell must end at its closing quote, "
    'and a quote inside it is written twice ("")',
    "cell_too_long": "a cell is longer than {limit} characters",
    "no_email_column": "the header must name the columns " + ",".join(COLUMNS),
    "unknown_columns": "unknown column(s): {columns}",
}


@dataclass(frozen=True)
class RowError:
    """Why a row (or, at line 1 or for a quote, the file) cannot be imported: a reason `code`
    with its values, and the column it is about (its header name, else its number)."""

    line: int
    code: str
    column: str = ""
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def message(self) -> str:
        text = _ENGLISH[self.code].format(**self.params)
        return f"{self.column}: {text}" if self.column else text

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"

    def as_fields(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "column": self.column,
                "params": self.params}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> RowError:
        return cls(int(fields["line"]), str(fields["code"]), str(fields.get("column") or ""),
                   dict(fields.get("params") or {}))


class CsvImportError(ValueError):
    """The file cannot be imported as it is; `errors` lists every problem found.

    `whole_file` when skipping the bad rows would not help: the header, the quoting or a
    character like NUL makes the file itself unusable.
    """

    def __init__(self, errors: list[RowError], *, whole_file: bool = False) -> None:
        super().__init__("; ".join(str(e) for e in errors[:5]))
        self.errors = errors
        self.whole_file = whole_file


@dataclass(frozen=True)
class ImportOptions:
    """What the admin said about the list as a whole."""

    attestation: Attestation
    all_topics: bool = False  # a row without topics gets every active topic, else it is refused

    def as_fields(self) -> dict[str, Any]:
        return {"attestation": self.attestation.as_fields(), "all_topics": self.all_topics}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> ImportOptions:
        return cls(Attestation.from_fields(dict(fields.get("attestation") or {})),
                   bool(fields.get("all_topics")))


@dataclass(frozen=True)
class CsvRow:
    line: int
    email: str
    name: str | None
    topics: tuple[str, ...]  # short names
    language: str
    status: SubscriberStatus


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    skipped: list[RowError] = field(default_factory=list)


class _Refused(ValueError):
    def __init__(self, code: str, column: str = "", **params: Any) -> None:
        super().__init__(code)
        self.error = (code, column, params)


_ALLOWED_STATUSES = ", ".join(s.value for s in IMPORTABLE_STATUSES)
# str(), not .value, for an enum's value: .value is slow when read 100,000 times.
_STATUSES = {str(s): s for s in IMPORTABLE_STATUSES}


def _parse_row(
    line: int, raw: dict[str, str], topics: TopicIndex, all_topics: bool,
    seen: dict[str, tuple[str, ...] | _Refused],
) -> CsvRow:
    """A valid row, or _Refused. `seen` keeps what each topics cell named: a large list
    repeats a few dozen of them."""
    address = raw.get("email", "").strip()
    if not address:
        raise _Refused("email_empty", "email")
    try:
        address = normalized_address(address)
    except EmailNotValidError:
        raise _Refused("email_invalid", "email", value=address) from None
    name = raw.get("name", "").strip() or None
    if name and len(name) > MAX_NAME:
        raise _Refused("name_too_long", "name", limit=MAX_NAME)
    cell = raw.get("topics", "")
    slugs = seen.get(cell)
    if slugs is None:
        slugs = seen[cell] = _topics_of(cell, topics, all_topics)
    if isinstance(slugs, _Refused):  # a new one: one raised again would keep each traceback
        code, column, params = slugs.error
        raise _Refused(code, column, **params)
    language = language_of(raw.get("language", ""))
    if language is None:
        raise _Refused("language_unknown", "language", value=raw.get("language", "").strip())
    status = _STATUSES.get(raw.get("status", "").strip().lower() or "pending")
    if status is None:
        raise _Refused("status_unknown", "status", value=raw.get("status", "").strip(),
                       allowed=_ALLOWED_STATUSES)
    return CsvRow(line, address, name, slugs, language, status)


def _topics_of(cell: str, topics: TopicIndex, all_topics: bool) -> tuple[str, ...] | _Refused:
    """The short names a topics cell names, or why it is refused."""
    slugs: list[str] = []
    for value in topic_values(cell):
        topic = topics.find(value)
        if topic is None:
            return _Refused("topic_unknown", "topics", value=value)
        if topic.retired:
            return _Refused("topic_retired", "topics", value=value)
        if topic.slug not in slugs:
            slugs.append(topic.slug)
    if not slugs:
        if not all_topics:
            return _Refused("topics_missing", "topics")
        slugs = list(topics.active_slugs)
    return tuple(slugs)


def read_rows(
    text: str, topics: TopicIndex, *, all_topics: bool = False
) -> tuple[list[CsvRow], list[RowError]]:
    """Parse and validate every row; duplicates within the file are errors too.

    Raises CsvImportError for what makes the file itself unusable, whatever the caller would
    skip: a wrong header, quotes that do not pair up, a NUL character.
    """
    records = _records(text)
    header_line, header = next(records, (1, []))
    fatal: list[RowError] = [
        problem
        for n, cell in enumerate(header, 1)
        if (problem := _cell_problem(header_line, n, "", cell))
    ]
    if fatal:
        raise CsvImportError(fatal, whole_file=True)
    header = [h.strip().lower() for h in header]
    if "email" not in header:
        raise CsvImportError([RowError(header_line, "no_email_column")], whole_file=True)
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise CsvImportError(
            [RowError(header_line, "unknown_columns", params={"columns": ", ".join(unknown)})],
            whole_file=True,
        )
    rows: list[CsvRow] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    seen: dict[str, tuple[str, ...] | _Refused] = {}
    width = len(header)
    # Most files hold no refused character at all: one search over the text spares a search
    # per cell. A line break can still be in a cell (a quote left open); that is checked.
    clean = _REFUSED_BUT_LINE_ENDS.search(text) is None
    for line, cells in records:
        if clean and not any("\n" in cell for cell in cells):
            problems = []
        else:
            problems = sorted(
                (
                    problem
                    for n, cell in enumerate(cells, 1)
                    if (problem := _cell_problem(line, n, _column(header, n), cell))
                ),
                key=lambda problem: not problem.fatal,
            )
        if problems:
            fatal += problems[:1] if problems[0].fatal else []
            errors.append(problems[0])  # one per row: the worker counts rows by them
            continue
        if len(cells) > width:
            errors.append(RowError(line, "too_many_cells"))
            continue
        try:
            row = _parse_row(line, dict(zip(header, cells, strict=False)), topics, all_topics,
                             seen)
        except _Refused as refused:
            code, column, params = refused.error
            errors.append(RowError(line, code, column, params))
            continue
        key = email_key(row.email)
        if key in first_line:
            errors.append(RowError(line, "duplicate", "email",
                                   {"email": row.email, "first": first_line[key]}))
            continue
        first_line[key] = line
        rows.append(row)
    if fatal:
        raise CsvImportError(errors, whole_file=True)  # every bad row, the refusing ones too
    return rows, errors


def _column(header: list[str], number: int) -> str:
    return header[number - 1] if number <= len(header) else ""


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(the line it starts on, its cells) for every record that is not a blank line.

    Strict, so a quote that is never closed (it would swallow the rest of the row, or of the
    file, into one cell) or text after a closing quote refuses the file instead of importing a
    name like `A,ai,en,active`. Universal newlines, so a file with old Mac line ends (CR only)
    reads as rows. Raises CsvImportError naming the line where the bad record starts.
    """
    reader = csv.reader(io.StringIO(text, newline=None), strict=True)
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            problem = _structure_problem(text, line, error)
            raise CsvImportError([problem], whole_file=True) from None
        if cells:
            yield line, cells


def _structure_problem(text: str, line: int, error: csv.Error) -> RowError:
    """Why the record starting at `line` is not CSV, in the words of someone fixing the file."""
    if "field limit" in str(error):
        return RowError(line, "cell_too_long", params={"limit": csv.field_size_limit()})
    rest = "\n".join(io.StringIO(text, newline=None).read().split("\n")[line - 1 :])
    column, closed = _misplaced_quote(rest)
    return RowError(line, "after_quote" if closed else "unclosed_quote", f"column {column}",
                    {"number": column})


def _misplaced_quote(record: str) -> tuple[int, bool]:
    """The column (1-based) of the first quote problem in a record's text, and whether it is
    text after a closing quote (else a quote not closed on its line). Only used once a record
    failed."""
    column, opened, i = 1, 1, 0
    quoted = False
    while i < len(record):
        char = record[i]
        if quoted:
            if char == '"' and record[i + 1 : i + 2] == '"':
                i += 1  # a quote written twice inside a quoted cell
            elif char == '"':
                quoted = False
                if record[i + 1 : i + 2] not in ("", ",", "\n"):
                    return column, True
            elif char == "\n":
                break  # no cell may hold a line break: the quote is the mistake
        elif char == '"' and (i == 0 or record[i - 1] in ",\n"):
            quoted, opened = True, column
        elif char == ",":
            column += 1
        elif char == "\n":
            break  # the record ended without a problem: stop at its line
        i += 1
    return opened, False


@dataclass(frozen=True)
class _CellProblem(RowError):
    fatal: bool = False  # refuses the whole file, even when bad rows are skipped


def _cell_problem(line: int, number: int, column: str, cell: str) -> _CellProblem | None:
    """A character the cell may not hold (webapp.plain_text's single-line rule), naming the
    column.

    Some refuse the file, not only the row: a line break (only a quote left open can put one
    in a cell, and the rows it swallowed would silently go missing), NUL and lone surrogates
    (PostgreSQL cannot store them even in the queued job's copy of the file, and a file holding
    NUL is rarely a text CSV at all).
    """
    if "\n" in cell:
        return _CellProblem(line, "unclosed_quote", f"column {number}", {"number": number},
                            fatal=True)
    problem = find_unsafe(cell)
    if problem is None:
        return None
    where = f"{column} (column {number})" if column else f"column {number}"
    fatal = problem.codepoint == 0 or 0xD800 <= problem.codepoint <= 0xDFFF
    params = {"code": f"{problem.codepoint:04X}", "position": problem.index + 1,
              "number": number}
    code = "line_break" if problem.line_break else "unsafe_char"
    return _CellProblem(line, code, where, params, fatal=fatal)


@dataclass(frozen=True)
class Checked:
    rows: list[CsvRow]  # valid rows
    errors: list[RowError]  # by line
    existing: dict[str, Current]  # by email key
    topics: TopicIndex


def topic_index(session: Session) -> TopicIndex:
    return TopicIndex(list(session.scalars(select(Topic))))


def check_csv(session: Session, text: str, erasure_key: str, *, all_topics: bool) -> Checked:
    """Every row checked against the file itself and against the database."""
    topics = topic_index(session)
    rows, errors = read_rows(text, topics, all_topics=all_topics)
    valid, refused, existing = check_rows(session, rows, erasure_key)
    errors = sorted(errors + refused, key=lambda e: e.line)
    return Checked(valid, errors, existing, topics)


def check_rows(
    session: Session, rows: list[CsvRow], erasure_key: str
) -> tuple[list[CsvRow], list[RowError], dict[str, Current]]:
    """Rows the database allows (not suppressed, not a reader who left), the others as errors,
    and the readers they name, by email key. A query per thousand rows, whatever their number.
    """
    keys = [email_key(r.email) for r in rows]
    suppressed = suppressed_among(session, keys, erasure_key)
    existing = current_readers(session, keys)
    valid: list[CsvRow] = []
    errors: list[RowError] = []
    for row in rows:
        key = email_key(row.email)
        current = existing.get(key)
        if key in suppressed:
            errors.append(RowError(row.line, "suppressed", "email", {"email": row.email}))
        elif (
            current is not None
            and current.status in LEFT
            and row.status != SubscriberStatus.UNSUBSCRIBED
        ):
            errors.append(RowError(row.line, "left", "email",
                                   {"email": row.email, "status": current.status.value}))
        else:
            valid.append(row)
    return valid, errors, existing


def left_since(row: CsvRow, status: str = "") -> RowError:
    """A row whose reader left (unsubscribed, bounced…) after the rows were checked."""
    return RowError(row.line, "left", "email",
                    {"email": row.email, "status": status or "unsubscribed"})


def write_checked(
    session: Session, rows: list[CsvRow], topic_ids: dict[str, int], *, erasure_key: str,
    consent: dict[str, Any],
) -> tuple[Written, list[RowError]]:
    """Check valid rows against the database as it is now and write those it allows; what
    was written, and the rows refused (suppressed, or a reader who left) with why.

    On PostgreSQL the check is part of the one statement that writes (csv_writes.
    write_guarded_pg); on SQLite the rows are checked, then written under the same guard.
    """
    if is_postgresql(session):
        written = write_guarded_pg(session, rows, topic_ids, erasure_key=erasure_key,
                                   consent=consent)
        refused = [RowError(row.line, "suppressed", "email", {"email": row.email})
                   for row in written.suppressed]
    else:
        valid, refused, existing = check_rows(session, rows, erasure_key)
        written = write_rows(session, valid, existing, topic_ids, consent=consent)
    refused += [left_since(row, written.left.get(email_key(row.email), ""))
                for row in written.refused]
    return written, refused


@dataclass(frozen=True)
class RowChange:
    """What importing one valid row would do to the reader it names."""

    line: int
    email: str
    kind: str  # new | update | unchanged
    changes: dict[str, tuple[str, str]]  # field -> (before, after); every field for a new one


SHOWN_ROWS = 50  # rows a preview lists; the counts and the errors cover the whole file


@dataclass(frozen=True)
class ImportPreview:
    counts: dict[str, int]  # new, update, unchanged
    first: list[RowChange]  # the first SHOWN_ROWS valid rows
    errors: list[RowError]  # every one
    rows: int  # data rows in the file

    def count(self, kind: str) -> int:
        return self.counts.get(kind, 0)


def _row_change(row: CsvRow, current: Current | None) -> RowChange:
    after = {
        "name": row.name or "",
        "topics": ";".join(row.topics),
        "language": row.language,
        "status": str(row.status),
    }
    if current is None:
        return RowChange(row.line, row.email, "new", {k: ("", v) for k, v in after.items()})
    before = {
        "name": current.name or "",
        "topics": ";".join(current.topics),
        "language": current.language,
        "status": str(current.status),
    }
    if row.name is None:
        after["name"] = before["name"]  # an empty name cell keeps the name
    if sorted(current.topics) == sorted(row.topics):
        after["topics"] = before["topics"]
    changes = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
    return RowChange(row.line, row.email, "update" if changes else "unchanged", changes)


def preview_subscribers_csv(
    session: Session, text: str, *, erasure_key: str, all_topics: bool = False
) -> ImportPreview:
    """A dry run of import_subscribers_csv: how many rows are new, changed or the same, the
    first rows, and every bad row.

    Writes nothing. Raises CsvImportError when the file itself cannot be read.
    """
    return preview_of(check_csv(session, text, erasure_key, all_topics=all_topics))


def preview_of(checked: Checked) -> ImportPreview:
    """The preview of rows checked (check_csv)."""
    counts = {"new": 0, "update": 0, "unchanged": 0}
    first: list[RowChange] = []
    for row in checked.rows:
        current = checked.existing.get(email_key(row.email))
        if current is None and len(first) >= SHOWN_ROWS:
            counts["new"] += 1  # most of a large list: nothing to compare, nothing shown
            continue
        change = _row_change(row, current)
        counts[change.kind] += 1
        if len(first) < SHOWN_ROWS:
            first.append(change)
    return ImportPreview(counts, first, checked.errors, len(checked.rows) + len(checked.errors))


def import_subscribers_csv(
    session: Session,
    text: str,
    *,
    erasure_key: str,
    options: ImportOptions,
    skip_invalid: bool = False,
    actor: User | str = "cli",
) -> ImportResult:
    """Create or update readers from CSV text, in one transaction; the caller commits.

    Raises CsvImportError listing every bad row unless `skip_invalid`, in which case the bad
    rows are returned in `skipped` and the good ones imported.
    """
    checked = check_csv(session, text, erasure_key, all_topics=options.all_topics)
    if checked.errors and not skip_invalid:
        raise CsvImportError(checked.errors)
    result = ImportResult(skipped=list(checked.errors))
    ids = {t.slug: t.id for t in checked.topics.topics}
    for start in range(0, len(checked.rows), CHUNK):
        written, refused = write_checked(session, checked.rows[start : start + CHUNK], ids,
                                         erasure_key=erasure_key,
                                         consent=consent_detail(options, actor))
        result.created += written.created
        result.updated += written.updated
        result.skipped += refused
    result.skipped.sort(key=lambda e: e.line)
    record_audit(
        session,
        "subscribers.import",
        actor=actor,
        detail={"created": result.created, "updated": result.updated,
                "skipped": len(result.skipped),
                "consent": options.attestation.basis.value},
    )
    return result


def consent_detail(options: ImportOptions, actor: User | str | None) -> dict[str, Any]:
    """What each imported reader's consent record keeps besides the row: the attestation and
    who imported the list."""
    by = actor.email if isinstance(actor, User) else (actor or "console")
    return {"attestation": options.attestation.as_fields(), "imported_by": by,
            "imported_by_id": actor.id if isinstance(actor, User) else None}


def safe_cell(value: str) -> str:
    """Neutralise spreadsheet formulas (=, +, -, @ …) so opening the export runs nothing."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _export_row(subscriber: Subscriber) -> list[str]:
    return [
        safe_cell(value)
        for value in (
            subscriber.email or "",
            subscriber.name or "",
            ";".join(topic.slug for topic in subscriber.topics),
            subscriber.language,
            subscriber.status.value,
        )
    ]


def export_batch(session: Session, after_id: int, size: int) -> tuple[list[list[str]], int]:
    """Up to `size` readers after `after_id`, as CSV rows, and the last id read (`after_id`
    when there are none left).

    By keyset (`id > last ORDER BY id`), so a long export reads in short transactions and
    each batch costs the same however far it has gone.
    """
    stmt = (
        select(Subscriber)
        .where(Subscriber.id > after_id)
        .order_by(Subscriber.id)
        .limit(size)
        .options(selectinload(Subscriber.topics))
    )
    readers = list(session.scalars(stmt))
    return [_export_row(s) for s in readers], (readers[-1].id if readers else after_id)


def export_rows(session: Session, size: int = 1000) -> Iterable[list[str]]:
    after = 0
    while True:
        rows, after = export_batch(session, after, size)
        if not rows:
            return
        yield from rows


def write_header(out: TextIO) -> Any:
    """A CSV writer on `out`, with the header row written (RFC 4180 line ends: a bare CR in a
    cell is quoted)."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    return writer


def export_subscribers_csv(session: Session, out: TextIO) -> int:
    """Write every reader, whatever the status, as CSV; returns the number of rows."""
    writer = write_header(out)
    count = 0
    for row in export_rows(session):
        writer.writerow(row)
        count += 1
    return count
