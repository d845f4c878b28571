"""Readers' CSV as long work for the worker: an import an admin confirmed, and the export.

The console queues a job and answers at once; the worker does it in batches and the console
shows the progress (`progress_done` of `progress_total` rows). An import commits each batch
together with its progress (the last line done, the counts so far) in one transaction, so a
worker that dies goes on from the last batch committed and no row is imported twice. On
PostgreSQL the rows wait in import_rows, copied in with the job, and a batch is the lines it
takes out of that table in the same transaction; on SQLite they are in the job's payload. An
export writes a file under the var dir (a BOM, then the same CSV as `export_subscribers_csv`);
the daily housekeeping deletes it a day later.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from webapp.audit import record_audit
from webapp.models import BackgroundJob, ImportRow, JobKind, JobStatus, Subscriber, User
from webapp.readers.csv_staged import Staged, row_fields, row_of
from webapp.readers.csv_writes import Refusal, copy_import_rows, is_postgresql, write_staged_pg
from webapp.readers.subscribers_csv import (
    CsvImportError,
    CsvRow,
    ImportOptions,
    RowError,
    check_csv,
    consent_detail,
    export_batch,
    read_rows,
    topic_index,
    write_checked,
    write_header,
)

log = logging.getLogger(__name__)

# Rows per transaction: a fraction of a second of set-based work, then the progress is shown.
IMPORT_BATCH = 5000
EXPORT_BATCH = 1000
EXPORT_KEPT = timedelta(days=1)  # an export's file is deleted by the daily housekeeping after

# Given a session, the worker's job row, locked, its claim checked and its lease renewed; it
# raises when another worker has taken the job over. Every batch starts with it.
Hold = Callable[[Session], BackgroundJob]


def exports_dir(var_dir: str | Path) -> Path:
    return Path(var_dir) / "exports"


def export_file(job: BackgroundJob, var_dir: str | Path) -> Path | None:
    """The finished export's file, while it is kept."""
    name = (job.result or {}).get("file")
    if job.kind != JobKind.CSV_EXPORT or job.status != JobStatus.DONE or not name:
        return None
    path = exports_dir(var_dir) / str(name)
    return path if path.is_file() else None


# --- queueing (the console) -----------------------------------------------------------------


def queue_import(
    session: Session,
    text: str,
    *,
    erasure_key: str,
    options: ImportOptions,
    skip_invalid: bool,
    actor: User,
) -> BackgroundJob:
    """Check the whole file as the preview did and queue its import; the caller commits.

    Bad input is refused here, with every bad row (CsvImportError), and nothing is queued.
    """
    checked = check_csv(session, text, erasure_key, all_topics=options.all_topics)
    if checked.errors and not skip_invalid:
        raise CsvImportError(checked.errors)
    return _queue(session, [row_fields(r) for r in checked.rows],
                  [e.as_fields() for e in checked.errors], options=options,
                  skip_invalid=skip_invalid, actor=actor, erasure_key=erasure_key)


def queue_staged_import(
    session: Session, staged: Staged, *, erasure_key: str, options: ImportOptions,
    skip_invalid: bool, actor: User,
) -> BackgroundJob:
    """Queue the import of a previewed file from its rows as the preview checked them; the
    caller commits. Raises CsvImportError, queueing nothing, when it has bad rows and they
    are not to be skipped."""
    if staged.error_fields and not skip_invalid:
        raise CsvImportError(staged.errors)
    return _queue(session, staged.row_fields, staged.error_fields, options=options,
                  skip_invalid=skip_invalid, actor=actor, erasure_key=erasure_key)


def _queue(
    session: Session,
    rows: list[list[Any]],
    errors: list[dict[str, Any]],
    *,
    options: ImportOptions,
    skip_invalid: bool,
    actor: User,
    erasure_key: str,
) -> BackgroundJob:
    # The rows as checked, not the text: the worker does not parse and validate the file a
    # second time, only checks each batch against the database as it is then. On PostgreSQL
    # they go into import_rows (one COPY), and the payload says up to which line.
    in_table = is_postgresql(session) and bool(rows)
    payload: dict[str, Any] = {"errors": errors, "skip_invalid": skip_invalid,
                               "actor_id": actor.id, "options": options.as_fields()}
    if in_table:
        lines = [int(r[0]) for r in rows] + [int(e["line"]) for e in errors]
        payload["in_table"] = {"rows": len(rows), "lines": [min(lines), max(lines)]}
    else:
        payload["rows"] = rows
    job = BackgroundJob(
        kind=JobKind.CSV_IMPORT,
        payload=payload,
        progress_total=len(rows) + len(errors),  # every data row
    )
    session.add(job)
    session.flush()
    if in_table:
        copy_import_rows(session, job.id, rows, erasure_key=erasure_key)
    return job


def queue_export(session: Session) -> BackgroundJob:
    """Queue an export of every reader; the caller commits."""
    job = BackgroundJob(
        kind=JobKind.CSV_EXPORT, progress_total=session.scalar(select(func.count(Subscriber.id)))
    )
    session.add(job)
    session.flush()
    return job


@dataclass(frozen=True)
class Progress:
    """What the console's progress bar shows, also as JSON."""

    id: int
    kind: str
    status: str
    done: int
    total: int
    error: str | None  # the last attempt's error, while it is tried again or once given up

    @classmethod
    def of(cls, job: BackgroundJob) -> Progress:
        total = job.progress_total if job.progress_total is not None else job.progress_done
        return cls(job.id, job.kind.value, job.status.value, job.progress_done,
                   max(total, job.progress_done), job.last_error)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "status": self.status, "done": self.done,
                "total": self.total, "error": self.error}


# --- doing it (the worker) ------------------------------------------------------------------


def _records(payload: dict[str, Any], session: Session, all_topics: bool
             ) -> list[CsvRow | RowError]:
    """Every data row of the file in line order: a row to import, or why it cannot be.

    An import queued before the rows were kept checked has its text: it is read again."""
    records: list[CsvRow | RowError]
    if isinstance(payload.get("rows"), list):
        records = [row_of(fields) for fields in payload["rows"]]
        records += [RowError.from_fields(fields) for fields in payload.get("errors") or []]
    elif isinstance(payload.get("text"), str):
        rows, errors = read_rows(payload["text"], topic_index(session), all_topics=all_topics)
        records = [*rows, *errors]
    else:
        raise ValueError("the import's CSV is gone")
    return sorted(records, key=lambda r: r.line)


def run_csv_import(
    sessions: sessionmaker[Session],
    hold: Hold,
    *,
    erasure_key: str,
    batch: int | None = None,
    budget: float | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Import the job's CSV from where it stopped, a batch per transaction; True once all of
    it is done, False when `budget` seconds ran out first (the caller queues it again).

    The file is parsed once, outside any transaction. Each batch checks its rows against the
    database as it is now (a reader suppressed since the preview is skipped, with the reason),
    writes them set-based and commits with the job's progress, so a batch is imported whole or
    not at all and a restart begins after the last line committed. `payload` is the job's, as
    claimed: a list of 100,000 rows is then not read from the database twice.
    """
    with sessions() as session:
        job = hold(session)
        if payload is None:
            payload = job.payload or {}
        options = ImportOptions.from_fields(dict(payload.get("options") or {}))
        actor_id = payload.get("actor_id")
        actor = session.get(User, actor_id) if isinstance(actor_id, int) else None
        consent = consent_detail(options, actor)
        in_table = payload.get("in_table")
        records = [] if isinstance(in_table, dict) else _records(payload, session,
                                                                 options.all_topics)
        session.commit()
    skip_invalid = bool(payload.get("skip_invalid"))
    size = batch or IMPORT_BATCH
    began = time.monotonic()
    if isinstance(in_table, dict):
        # Batches of `size` lines: the file's data rows are its lines from the first, but for
        # a blank line or a quoted line break.
        errors = [RowError.from_fields(fields) for fields in payload.get("errors") or []]
        first, end = (int(n) for n in in_table["lines"])
        after = max(int((job.result or {}).get("last_line", 0)), first - 1)
        while after < end:
            upto = after + size
            import_batch(sessions, hold, [e for e in errors if after < e.line <= upto],
                         erasure_key=erasure_key, skip_invalid=skip_invalid, consent=consent,
                         lines=(after, upto))
            after = upto
            if after < end and budget is not None and time.monotonic() - began >= budget:
                return False
    else:
        last_line = int((job.result or {}).get("last_line", 0))
        todo = [r for r in records if r.line > last_line]
        for start in range(0, len(todo), size):
            import_batch(sessions, hold, todo[start : start + size], erasure_key=erasure_key,
                         skip_invalid=skip_invalid, consent=consent)
            more = start + size < len(todo)
            if more and budget is not None and time.monotonic() - began >= budget:
                return False
    with sessions() as session:
        job = hold(session)
        session.execute(delete(ImportRow).where(ImportRow.job_id == job.id))  # none left
        result = dict(job.result or _empty_result())
        if not result.get("audited"):
            record_audit(session, "subscribers.import", actor=actor or "console", detail={
                "created": result["created"], "updated": result["updated"],
                "skipped": len(result["skipped"]),
                "consent": options.attestation.basis.value})
            job.result = {**result, "audited": True}
        session.commit()
    return True


def _empty_result() -> dict[str, Any]:
    return {"created": 0, "updated": 0, "skipped": [], "last_line": 0}


def import_batch(
    sessions: sessionmaker[Session],
    hold: Hold,
    records: list[CsvRow | RowError],
    *,
    erasure_key: str,
    skip_invalid: bool,
    consent: dict[str, Any],
    lines: tuple[int, int] | None = None,
) -> None:
    """Import one batch and record it in the job, in one transaction.

    `records` are the batch's rows and bad rows; or, for a job whose rows are in import_rows
    (PostgreSQL), `lines` (after, upto] says which rows, and `records` are the bad ones among
    them."""
    if lines is not None:
        _import_lines(sessions, hold, lines, [r for r in records if isinstance(r, RowError)],
                      skip_invalid=skip_invalid, consent=consent)
        return
    with sessions() as session:
        job = hold(session)
        result = dict(job.result or _empty_result())
        if records[-1].line <= int(result["last_line"]):
            return  # done already (committed by an attempt that then died)
        todo = [r for r in records if r.line > int(result["last_line"])]
        rows = [r for r in todo if isinstance(r, CsvRow)]
        skipped = [r for r in todo if isinstance(r, RowError)]
        topics = topic_index(session).by_slug()
        usable = []
        for row in rows:  # a topic retired or deleted since the preview
            if all(slug in topics and not topics[slug].retired for slug in row.topics):
                usable.append(row)
            else:
                skipped.append(RowError(row.line, "topic_gone", "topics"))
        ids = {slug: topic.id for slug, topic in topics.items()}
        written, refused = write_checked(session, usable, ids, erasure_key=erasure_key,
                                         consent=consent)
        skipped += refused
        job.result = {
            **result,
            "created": int(result["created"]) + written.created,
            "updated": int(result["updated"]) + written.updated,
            "skipped": [*result["skipped"],
                        *(e.as_fields() for e in sorted(skipped, key=lambda e: e.line))],
            "last_line": todo[-1].line,
            "skip_invalid": skip_invalid,
        }
        job.progress_done += len(todo)
        session.commit()


def _import_lines(
    sessions: sessionmaker[Session],
    hold: Hold,
    lines: tuple[int, int],
    bad: list[RowError],
    *,
    skip_invalid: bool,
    consent: dict[str, Any],
) -> None:
    """import_batch of the lines (after, upto] of a job whose rows are in import_rows."""
    after, upto = lines
    with sessions() as session:
        job = hold(session)
        result = dict(job.result or _empty_result())
        if upto <= int(result["last_line"]):
            return  # done already (committed by an attempt that then died)
        after = max(after, int(result["last_line"]))
        bad = [e for e in bad if e.line > after]
        written = write_staged_pg(session, job.id, after, upto, consent=consent)
        skipped = sorted([*bad, *(_refused(r) for r in written.refused)], key=lambda e: e.line)
        job.result = {
            **result,
            "created": int(result["created"]) + written.created,
            "updated": int(result["updated"]) + written.updated,
            "skipped": [*result["skipped"], *(e.as_fields() for e in skipped)],
            "last_line": upto,
            "skip_invalid": skip_invalid,
        }
        job.progress_done += written.rows + len(bad)
        session.commit()


def _refused(refusal: Refusal) -> RowError:
    """Why the worker's statement left a row out, as import_batch words it."""
    if refusal.why == "topic_gone":
        return RowError(refusal.line, "topic_gone", "topics")
    if refusal.why == "suppressed":
        return RowError(refusal.line, "suppressed", "email", {"email": refusal.email})
    return RowError(refusal.line, "left", "email",
                    {"email": refusal.email, "status": refusal.why or "unsubscribed"})


def forget_import_rows(session: Session) -> int:
    """Delete the rows of imports that are no longer to be done (failed, or gone); the caller
    commits. Run daily: an import that ends well leaves none."""
    pending = select(BackgroundJob.id).where(BackgroundJob.status == JobStatus.PENDING)
    result = session.execute(delete(ImportRow).where(ImportRow.job_id.not_in(pending)))
    return int(getattr(result, "rowcount", 0) or 0)


def run_csv_export(sessions: sessionmaker[Session], hold: Hold, *, var_dir: str | Path,
                   batch: int | None = None) -> None:
    """Write every reader to the job's file, a batch at a time, each read in a short
    transaction; the progress is recorded after each. A restart writes the file afresh."""
    directory = exports_dir(var_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with sessions() as session:
        job = hold(session)
        name = f"readers-{job.id}.csv"
        # One part file per attempt: a worker that outlived its lease never writes into the
        # file of the one that took the job over.
        part = directory / f"{name}.{job.attempts}.part"
        job.progress_done = 0
        job.progress_total = session.scalar(select(func.count(Subscriber.id)))
        session.commit()
    done = after = 0
    # utf-8 with a BOM, so spreadsheet programs read the Chinese as UTF-8, as before.
    with part.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeff")
        writer = write_header(out)
        while True:
            with sessions() as session:
                rows, after = export_batch(session, after, batch or EXPORT_BATCH)
            if not rows:
                break
            writer.writerows(rows)
            done += len(rows)
            with sessions() as session:
                hold(session).progress_done = done
                session.commit()
    os.replace(part, directory / name)
    with sessions() as session:
        job = hold(session)
        job.progress_done = done
        job.progress_total = done
        job.result = {"file": name, "rows": done}
        session.commit()


def forget_old_exports(session: Session, var_dir: str | Path, now: datetime) -> int:
    """Delete export files a day after they were made (run daily); returns the files deleted.
    The job stays, saying the file is gone. A file whose job is gone is deleted too."""
    directory = exports_dir(var_dir)
    deleted = 0
    if directory.is_dir():
        files = {p: _job_id_of(p.name) for p in directory.iterdir()}
        ids = {i for i in files.values() if i is not None}
        known = set(session.scalars(select(BackgroundJob.id).where(BackgroundJob.id.in_(ids))))
        for path, job_id in files.items():
            if job_id is not None and job_id not in known:
                path.unlink(missing_ok=True)
                deleted += 1
    stmt = select(BackgroundJob).where(
        BackgroundJob.kind == JobKind.CSV_EXPORT,
        BackgroundJob.status.in_([JobStatus.DONE, JobStatus.FAILED]),
        func.coalesce(BackgroundJob.done_at, BackgroundJob.updated_at) < now - EXPORT_KEPT,
    )
    for job in session.scalars(stmt):
        name = (job.result or {}).get("file")
        for part in directory.glob(f"readers-{job.id}.csv.*part"):
            part.unlink(missing_ok=True)
        if not name:
            continue
        path = directory / str(name)
        if path.is_file():
            path.unlink()
            deleted += 1
        job.result = {**(job.result or {}), "file": None, "expired": True}
    return deleted


def _job_id_of(name: str) -> int | None:
    """The job id in an export file's name (`readers-12.csv`, `readers-12.csv.3.part`)."""
    stem = name.removeprefix("readers-").split(".", 1)[0]
    return int(stem) if name.startswith("readers-") and stem.isdigit() else None
