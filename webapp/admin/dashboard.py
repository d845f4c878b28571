"""The dashboard: reputation, workers, system mails, every edition's funnel, one edition in
detail, growth."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from webapp import db
from webapp.admin import bp
from webapp.admin.forms import ButtonForm
from webapp.audit import record_audit
from webapp.config import current_settings
from webapp.db import database
from webapp.delivery.jobs import retry_job
from webapp.editions.records import get_edition
from webapp.models import BackgroundJob, JobStatus, utcnow
from webapp.readers.topics import topics_by_slug
from webapp.stats.export import editions_csv, items_csv
from webapp.stats.figures import (
    EditionReport,
    Funnel,
    edition_report,
    editions_with_stats,
    reader_growth,
)
from webapp.stats.jobs import mail_counts, troubled_jobs
from webapp.stats.reader_figures import Counting, ReaderFigures, ReaderFiguresCache
from webapp.stats.reputation import (
    BOUNCE_REVIEW,
    COMPLAINT_REVIEW,
    MIN_VOLUME,
    Reputation,
    recent_reputation,
)
from webapp.stats.workers import inbox_lag, scheduler_status, ses_event_lag, worker_status

EDITIONS_SHOWN = 12
# Variants shown before "show all": the largest, by readers planned. An edition has one per
# language and topic set its readers chose, easily a hundred; the largest say most.
VARIANTS_SHOWN = 10


@bp.route("/")
def home() -> str:
    session = db.session()
    editions = editions_with_stats(session, limit=EDITIONS_SHOWN)
    wanted = request.args.get("month", "")
    chosen = next((e for e, _ in editions if e.month == wanted), None)
    if chosen is None and editions:
        chosen = editions[0][0]
    report = None
    all_variants = request.args.get("variants") == "all"
    if chosen is not None:
        loaded = get_edition(session, chosen.month)
        report = edition_report(session, loaded) if loaded is not None else None
    now = utcnow()
    figures = _reader_figures(session, now)
    counting = figures if isinstance(figures, Counting) else None
    counted = figures if isinstance(figures, ReaderFigures) else None
    # Only the SES transport reports events back; with the others there is no lag to show.
    ses = current_settings().mail_transport == "ses"
    return render_template(
        "admin/dashboard.html",
        editions=[(e, f, Reputation.of(f)) for e, f in editions],
        report=report,
        variants=_variants_shown(report, all_variants),
        all_variants=all_variants,
        variants_top=VARIANTS_SHOWN,
        counting=counting,
        readers=counted.by_status if counted else {},
        receiving=counted.receiving if counted else None,
        readers_taken_at=counted.taken_at if counted else None,
        # While counting, the month-end readers (worked back from today's count) are not
        # shown: 0 stands in for the count, and only the joins and departures are drawn.
        growth=reader_growth(
            session, now=now, receiving=counted.receiving_report if counted else 0
        ),
        popularity=counted.popularity(session) if counted else [],
        reputation=recent_reputation(session, now, known={e.id: f for e, f in editions}),
        workers=worker_status(session, now),
        scheduler=scheduler_status(session, now),
        event_lag=ses_event_lag(session, now) if ses else None,
        inbox=inbox_lag(session, now),
        now=now,
        mails=mail_counts(session),
        troubled=troubled_jobs(session),
        button=ButtonForm(),
        topics=topics_by_slug(session),
        thresholds={"bounce": BOUNCE_REVIEW, "complaint": COMPLAINT_REVIEW, "volume": MIN_VOLUME},
    )


def _reader_figures(session: Session, now: datetime) -> ReaderFigures | Counting:
    """The reader-wide figures, from this app's snapshot, or `Counting` while a process's
    first count of them runs past READER_FIGURES_FIRST_WAIT_SECONDS (counting them takes
    seconds at a million readers, a minute at ten; webapp.stats.reader_figures)."""
    cache: ReaderFiguresCache = current_app.extensions.setdefault(
        "yuebao.reader_figures", ReaderFiguresCache()
    )
    settings = current_settings()
    max_age = timedelta(seconds=settings.reader_figures_max_age_seconds)
    first_wait = timedelta(seconds=settings.reader_figures_first_wait_seconds)
    return cache.get(session, database().sessionmaker, now, max_age, first_wait)


def _variants_shown(report: EditionReport | None, show_all: bool) -> list[tuple[str, Funnel]]:
    """The variants' rows: the largest VARIANTS_SHOWN (already largest first), or all."""
    if report is None:
        return []
    rows = list(report.variants.items())
    return rows if show_all else rows[:VARIANTS_SHOWN]


@bp.route("/jobs/<int:job_id>/retry", methods=["POST"])
def job_retry(job_id: int) -> BaseResponse:
    """Try a given-up job again (after fixing what made it fail, e.g. the SES settings)."""
    session = db.session()
    job = session.get(BackgroundJob, job_id)
    if job is None:
        abort(404)
    if ButtonForm().validate_on_submit() and job.status == JobStatus.FAILED:
        retry_job(session, job)
        record_audit(session, "job.retry", actor=current_user, target=str(job.id),
                     detail={"kind": job.kind.value})
        session.commit()
        flash(_("The job will be tried again within seconds."), "ok")
    return redirect(url_for("admin.home") + "#mails-heading", code=303)


def csv_response(text: str, name: str) -> Response:
    # A BOM so spreadsheet programs read the Chinese titles as UTF-8.
    response = Response("\ufeff" + text, content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.route("/stats/editions.csv")
def editions_export() -> Response:
    return csv_response(editions_csv(db.session()), "yuebao-editions.csv")


@bp.route("/stats/<month>/items.csv")
def items_export(month: str) -> Response:
    session = db.session()
    edition = get_edition(session, month)
    if edition is None:
        abort(404)
    return csv_response(items_csv(session, edition), f"yuebao-{edition.month}-items.csv")
