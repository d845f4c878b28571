"""Background jobs (the transactional outbox) and the index of the outbox transport's files.

A job is written in the same transaction as the change that calls for it — the confirmation
mail with the new reader, the redaction of outbox files with the erasure — and done by the
worker afterwards, with retries: a crash of the web process or the worker loses nothing.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, UTCDateTime, str_enum, utcnow


class JobKind(enum.StrEnum):
    # A system mail (confirm, welcome, preferences link, password reset …), or a public form's
    # request that the worker answers with at most one such mail (webapp.mailer.queue_request).
    MAIL = "mail"
    REDACT_OUTBOX = "redact_outbox"  # an erased reader's outbox files
    INDEX_OUTBOX = "index_outbox"  # once, after the upgrade: files written before the index
    CSV_IMPORT = "csv_import"  # readers from a CSV an admin confirmed, in batches
    CSV_EXPORT = "csv_export"  # every reader as a CSV file under the var dir, to download
    TRANSLATE = "translate"  # machine drafts of an edition's missing English, item by item


class JobStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt (or being worked on)
    DONE = "done"
    FAILED = "failed"  # given up: a permanent error, or too many attempts


class BackgroundJob(Base):
    __tablename__ = "background_jobs"
    __table_args__ = (
        # The worker's claim: pending jobs whose next attempt is due, oldest due first.
        Index("ix_background_jobs_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[JobKind] = mapped_column(str_enum(JobKind, "job_kind"))
    status: Mapped[JobStatus] = mapped_column(
        str_enum(JobStatus, "job_status"), default=JobStatus.PENDING
    )
    # The reader the job concerns: erasure deletes their mails not yet sent.
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    # A mail's rendered message (what the mail itself holds, nothing more), cleared once sent;
    # a CSV import's text and options, cleared once imported.
    # Deferred: a CSV import's rows are megabytes, and its progress is read every second.
    payload: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True), deferred=True
    )
    # Long work (CSV import and export) counts its rows here, committed with each batch: the
    # console shows done / total, and a worker that dies goes on from `progress_done`.
    progress_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    progress_total: Mapped[int | None] = mapped_column(Integer)
    # What long work found: an import's counts and skipped rows, an export's file.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ImportRow(Base):
    """A checked row of a confirmed CSV import, waiting for the worker (PostgreSQL).

    The confirmation copies the rows here with the job (COPY); each batch of the worker takes
    its rows out in the statement that writes the readers, so a row is imported once, and the
    table is empty again when the import is done. The job's payload then holds no rows, and
    the worker neither loads nor encodes them: the batches are INSERT … SELECT.
    """

    __tablename__ = "import_rows"

    # The job's id, without a foreign key: its check would cost as much as the row itself. The
    # rows are deleted as they are imported, and with their job (csv_jobs.forget_import_rows).
    job_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20))
    topics: Mapped[list[str]] = mapped_column(JSON)  # short names
    token: Mapped[str] = mapped_column(String(64))  # the new reader's, if it is one
    # address_hash of the email key: a suppression kept of an erased address matches it.
    address_hash: Mapped[str] = mapped_column(String(64))


class OutboxFile(Base):
    """Which `.eml` file of the outbox transport holds whose message, written as the file is
    recorded as sent: erasure redacts a reader's files through it, never by reading them all."""

    __tablename__ = "outbox_files"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
