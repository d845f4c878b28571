"""Drafting English as the worker's long work: the console queues a `translate` job for what
the editor was shown, and the worker runs it with progress.

A whole report is a hundred or more requests to Amazon Translate (one per text; 60 for the
July sample), longer than a request to the console should last, so the console answers at
once and its "Machine drafts" page follows the job, as the admin's CSV pages do. The run
renews the job's claim with each unit and commits its progress with it; a retried job drafts
only what is still missing.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from webapp.editions.drafts import (
    DraftRun,
    NothingToTranslate,
    TranslationOff,
    draft_english,
    plan_drafts,
)
from webapp.editions.items import _require_editable as require_editable
from webapp.editions.machine_translation import Translator
from webapp.editions.records import EditionError
from webapp.models import BackgroundJob, Edition, JobKind, JobStatus, User


class DraftingUnderway(EditionError):
    def __init__(self, month: str) -> None:
        self.month = month
        super().__init__(f"English for the {month} edition is being drafted already")


class CostChanged(EditionError):
    """The texts changed between the figures shown and the confirmation: show them again."""

    def __init__(self, month: str, shown: int, now: int) -> None:
        self.month = month
        self.shown = shown
        self.now = now
        super().__init__(f"the texts to translate changed: {now} characters, not {shown}")


def translation_jobs(session: Session, month: str, limit: int = 20) -> list[BackgroundJob]:
    """The edition's recent drafting jobs, newest first. The month is in the payload (JSON),
    so the few newest jobs of the kind are read and filtered here, alike on both databases."""
    stmt = (select(BackgroundJob).where(BackgroundJob.kind == JobKind.TRANSLATE)
            .order_by(BackgroundJob.id.desc()).limit(limit))
    return [job for job in session.scalars(stmt) if (job.payload or {}).get("month") == month]


def queue_drafts(
    session: Session, edition: Edition, *, enabled: bool, characters: int, actor: User
) -> BackgroundJob:
    """Queue drafting what the editor was shown (`characters` of it); the caller commits."""
    if not enabled:
        raise TranslationOff
    require_editable(edition)
    if any(job.status == JobStatus.PENDING for job in translation_jobs(session, edition.month)):
        raise DraftingUnderway(edition.month)
    plan = plan_drafts(edition)
    if not plan.units:
        raise NothingToTranslate(edition.month)
    if plan.characters != characters:
        raise CostChanged(edition.month, characters, plan.characters)
    job = BackgroundJob(
        kind=JobKind.TRANSLATE,
        payload={"month": edition.month, "scope": plan.scope, "actor_id": actor.id,
                 "characters": plan.characters},
        progress_total=len(plan.units),
    )
    session.add(job)
    session.flush()
    return job


def run_translation_job(
    sessions: sessionmaker[Session],
    hold: Callable[[Session], BackgroundJob],
    translator: Translator,
) -> DraftRun:
    """The worker's part: draft what the job's payload names, recording progress with each
    unit and the outcome (failed units with their reasons) in the job's result."""
    with sessions() as session:
        payload = dict(hold(session).payload or {})
        session.commit()
    month = str(payload["month"])
    actor_id = payload.get("actor_id")

    def progress(session: Session, done: int, total: int) -> None:
        job = hold(session)
        job.progress_done, job.progress_total = done, total

    run = draft_english(
        sessions, month, translator,
        actor=actor_id if isinstance(actor_id, int) else "console",
        scope=[str(key) for key in payload.get("scope", [])],
        progress=progress,
    )
    with sessions() as session:
        job = hold(session)
        job.result = run.as_json()
        session.commit()
    return run
