"""Readers from and to CSV: `email,name,topics,language,status`.

An import is checked whole before anything is written: every bad row is reported with its line
number, and nothing is imported unless all rows are valid (or the caller asks to skip bad ones).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from webapp.audit import record_audit
from webapp.models import (
    LANGUAGES,
    ConsentRecord,
    ConsentSource,
    Subscriber,
    SubscriberStatus,
    Topic,
    User,
    email_key,
)
from webapp.plain_text import find_unsafe
from webapp.readers.suppressions import suppressed_keys
from webapp.readers.topics import topics_by_slug

COLUMNS = ("email", "name", "topics", "language", "status")
IMPORTABLE_STATUSES = (
    SubscriberStatus.PENDING,
    SubscriberStatus.ACTIVE,
    SubscriberStatus.PAUSED,
    SubscriberStatus.UNSUBSCRIBED,
)
# Readers who left (or whose mail bounced or complained) come back only by subscribing
# themselves; a list upload must not opt them in again.
_LEFT = frozenset(
    {
        SubscriberStatus.UNSUBSCRIBED,
        SubscriberStatus.BOUNCED,
        SubscriberStatus.COMPLAINED,
        SubscriberStatus.ERASED,
    }
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_NAME = 200


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


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
class CsvRow:
    line: int
    email: str
    name: str | None
    topics: tuple[str, ...]
    language: str
    status: SubscriberStatus


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    skipped: list[RowError] = field(default_factory=list)


def _parse_row(line: int, raw: dict[str, str | None], topics: dict[str, Topic]) -> CsvRow:
    def cell(name: str) -> str:
        return (raw.get(name) or "").strip()

    address = cell("email")
    if not address:
        raise ValueError("the email is empty")
    try:
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValueError(f"{address!r} is not a valid email address: {error}") from None
    name = cell("name") or None
    if name and len(name) > MAX_NAME:
        raise ValueError(f"the name is longer than {MAX_NAME} characters")
    slugs = tuple(dict.fromkeys(s.strip() for s in cell("topics").split(";") if s.strip()))
    for slug in slugs:
        if slug not in topics:
            raise ValueError(f"unknown topic {slug!r} (known: {', '.join(sorted(topics))})")
        if topics[slug].retired:
            raise ValueError(f"topic {slug!r} is retired")
    language = cell("language") or "zh-CN"
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    status_text = cell("status") or SubscriberStatus.PENDING.value
    allowed = [s.value for s in IMPORTABLE_STATUSES]
    if status_text not in allowed:
        raise ValueError(f"status must be one of {', '.join(allowed)}, not {status_text!r}")
    return CsvRow(line, address, name, slugs, language, SubscriberStatus(status_text))


def read_rows(text: str, topics: dict[str, Topic]) -> tuple[list[CsvRow], list[RowError]]:
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
    header = [h.strip() for h in header]
    if "email" not in header:
        raise CsvImportError(
            [RowError(header_line, f"the header must name the columns {','.join(COLUMNS)}")],
            whole_file=True,
        )
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise CsvImportError(
            [RowError(header_line, f"unknown column(s): {', '.join(unknown)}")], whole_file=True
        )
    rows: list[CsvRow] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for line, cells in records:
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
        if len(cells) > len(header):
            errors.append(RowError(line, "more cells than columns"))
            continue
        try:
            row = _parse_row(line, dict(zip(header, cells, strict=False)), topics)
        except ValueError as error:
            errors.append(RowError(line, str(error)))
            continue
        key = email_key(row.email)
        if key in first_line:
            errors.append(RowError(line, f"{row.email} is already on line {first_line[key]}"))
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
            problem = RowError(line, _structure_problem(text, line, error))
            raise CsvImportError([problem], whole_file=True) from None
        if cells:
            yield line, cells


def _structure_problem(text: str, line: int, error: csv.Error) -> str:
    """Why the record starting at `line` is not CSV, in the words of someone fixing the file."""
    if "field limit" in str(error):
        return f"a cell is longer than {csv.field_size_limit()} characters"
    rest = "\n".join(io.StringIO(text, newline=None).read().split("\n")[line - 1 :])
    column, closed = _misplaced_quote(rest)
    return _after_quote(column) if closed else _unclosed_quote(column)


def _unclosed_quote(column: int) -> str:
    return (
        f'column {column}: a quote (") opens the cell and is not closed on the same line; '
        'quote a whole cell, and write a quote inside it twice ("")'
    )


def _after_quote(column: int) -> str:
    return (
        f"column {column}: text after a closing quote; a quoted cell must end at its "
        'closing quote, and a quote inside it is written twice ("")'
    )


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
        return _CellProblem(line, _unclosed_quote(number), fatal=True)
    problem = find_unsafe(cell)
    if problem is None:
        return None
    where = f"{column} (column {number})" if column else f"column {number}"
    fatal = problem.codepoint == 0 or 0xD800 <= problem.codepoint <= 0xDFFF
    return _CellProblem(line, f"{where}: {problem}", fatal=fatal)


@dataclass(frozen=True)
class _Checked:
    rows: list[CsvRow]  # valid rows
    errors: list[RowError]  # by line
    existing: dict[str, Subscriber]  # by email key
    topics: dict[str, Topic]


def check_csv(session: Session, text: str, erasure_key: str) -> _Checked:
    """Every row checked against the file itself and against the database."""
    topics = topics_by_slug(session)
    rows, errors = read_rows(text, topics)
    valid, refused, existing = check_rows(session, rows, erasure_key)
    errors = sorted(errors + refused, key=lambda e: e.line)
    return _Checked(valid, errors, existing, topics)


def check_rows(
    session: Session, rows: list[CsvRow], erasure_key: str
) -> tuple[list[CsvRow], list[RowError], dict[str, Subscriber]]:
    """Rows the database allows (not suppressed, not a reader who left), the others as errors,
    and the readers they name, by email key."""
    suppressed = suppressed_keys(session, [r.email for r in rows], erasure_key)
    existing = {
        s.email_key: s
        for s in session.scalars(
            select(Subscriber)
            .where(Subscriber.email_key.in_([email_key(r.email) for r in rows]))
            .options(selectinload(Subscriber.topics))
        )
        if s.email_key
    }
    valid: list[CsvRow] = []
    errors: list[RowError] = []
    for row in rows:
        key = email_key(row.email)
        current = existing.get(key)
        if key in suppressed:
            errors.append(RowError(row.line, f"{row.email} is suppressed and cannot be imported"))
        elif (
            current is not None
            and current.status in _LEFT
            and row.status != SubscriberStatus.UNSUBSCRIBED
        ):
            errors.append(
                RowError(
                    row.line,
                    f"{row.email} is {current.status.value}; only the reader can subscribe again",
                )
            )
        else:
            valid.append(row)
    return valid, errors, existing


@dataclass(frozen=True)
class RowChange:
    """What importing one valid row would do to the reader it names."""

    line: int
    email: str
    kind: str  # new | update | unchanged
    changes: dict[str, tuple[str, str]]  # field -> (before, after); every field for a new one


@dataclass(frozen=True)
class ImportPreview:
    changes: list[RowChange]
    errors: list[RowError]

    def count(self, kind: str) -> int:
        return sum(1 for change in self.changes if change.kind == kind)


def _row_change(row: CsvRow, current: Subscriber | None) -> RowChange:
    after = {
        "name": row.name or "",
        "topics": ";".join(row.topics),
        "language": row.language,
        "status": row.status.value,
    }
    if current is None:
        return RowChange(row.line, row.email, "new", {k: ("", v) for k, v in after.items()})
    before = {
        "name": current.name or "",
        "topics": ";".join(t.slug for t in current.topics),
        "language": current.language,
        "status": current.status.value,
    }
    if row.name is None:
        after["name"] = before["name"]  # an empty name cell keeps the name
    if sorted(before["topics"].split(";")) == sorted(after["topics"].split(";")):
        after["topics"] = before["topics"]
    changes = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
    return RowChange(row.line, row.email, "update" if changes else "unchanged", changes)


def preview_subscribers_csv(session: Session, text: str, *, erasure_key: str) -> ImportPreview:
    """A dry run of import_subscribers_csv: what each row would change, and every bad row.

    Writes nothing. Raises CsvImportError when the header itself is wrong.
    """
    checked = check_csv(session, text, erasure_key)
    changes = [_row_change(r, checked.existing.get(email_key(r.email))) for r in checked.rows]
    return ImportPreview(changes, checked.errors)


def import_subscribers_csv(
    session: Session,
    text: str,
    *,
    erasure_key: str,
    skip_invalid: bool = False,
    actor: User | str = "cli",
) -> ImportResult:
    """Create or update readers from CSV text; the caller commits.

    Raises CsvImportError listing every bad row unless `skip_invalid`, in which case the bad
    rows are returned in `skipped` and the good ones imported.
    """
    checked = check_csv(session, text, erasure_key)
    valid, errors, existing, topics = checked.rows, checked.errors, checked.existing, checked.topics
    if errors and not skip_invalid:
        raise CsvImportError(errors)

    result = ImportResult(skipped=errors)
    for row in valid:
        if apply_row(session, row, existing.get(email_key(row.email)), topics):
            result.created += 1
        else:
            result.updated += 1
    session.flush()
    record_audit(
        session,
        "subscribers.import",
        actor=actor,
        detail={"created": result.created, "updated": result.updated, "skipped": len(errors)},
    )
    return result


def apply_row(
    session: Session, row: CsvRow, subscriber: Subscriber | None, topics: dict[str, Topic]
) -> bool:
    """Create or update the reader one valid row names, with its consent record; True when
    the reader is new. Applying a row again changes nothing more than a second consent record,
    so the background import commits its progress with each batch and never repeats one."""
    created = subscriber is None
    if subscriber is None:
        subscriber = Subscriber(email=row.email, email_key=email_key(row.email))
        session.add(subscriber)
    subscriber.name = row.name if row.name is not None else subscriber.name
    subscriber.language = row.language
    subscriber.status = row.status
    subscriber.topics = [topics[slug] for slug in row.topics]
    session.add(
        ConsentRecord(
            subscriber=subscriber,
            action="import" if created else "import-update",
            source=ConsentSource.CSV,
            detail={
                "status": row.status.value,
                "topics": list(row.topics),
                "language": row.language,
            },
        )
    )
    return created


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
