"""Sending: the confirmation page, send now or at a time in TIMEZONE, the live progress, and
pause / resume / cancel. The worker does the sending; these views only move the state."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from webapp import db
from webapp.config import current_settings
from webapp.delivery import sending
from webapp.delivery.estimate import SendEstimate, estimate_send
from webapp.delivery.in_doubt import resolve_in_doubt
from webapp.delivery.variant_previews import variant_readers
from webapp.editor import bp
from webapp.editor.common import actor, edition_or_404, explain
from webapp.editor.forms import ButtonForm, ScheduleForm
from webapp.models import Edition, EditionStatus, Role, utcnow
from webapp.readers.topics import topics_by_slug
from webapp.security import role_required
from webapp.stats.progress import send_progress

SENDABLE = {EditionStatus.APPROVED, EditionStatus.SCHEDULED}


def _zone() -> ZoneInfo:
    return ZoneInfo(current_settings().timezone)


def duration_text(estimate: SendEstimate) -> str | None:
    """"about 21 seconds", "about 3 minutes" in the page's language; None when the rate is
    unknown."""
    seconds = estimate.seconds
    if seconds is None:
        return None
    return str(_("about %(duration)s",
                 duration=format_timedelta(timedelta(seconds=max(1, round(seconds))),
                                           threshold=1.0)))


def _confirmation(edition: Edition, schedule: ScheduleForm | None = None) -> str:
    session = db.session()
    estimate = estimate_send(session, current_settings(), edition)
    if schedule is None:
        schedule = ScheduleForm(formdata=None)
        when = (edition.scheduled_at or utcnow() + timedelta(hours=1)).astimezone(_zone())
        schedule.date.data, schedule.time.data = when.date(), when.time().replace(second=0,
                                                                                   microsecond=0)
    return render_template(
        "editor/send.html",
        edition=edition,
        estimate=estimate,
        duration=duration_text(estimate),
        variants=variant_readers(session, edition),
        topic_names=topics_by_slug(session),
        schedule=schedule,
        button=ButtonForm(),
        timezone=current_settings().timezone,
        sendable=edition.status in SENDABLE,
    )


@bp.route("/editions/<month>/send", methods=["GET", "POST"])
@role_required(Role.EDITOR)
def send(month: str) -> str | Response:
    edition = edition_or_404(month)
    if request.method == "GET":
        return _confirmation(edition)
    session = db.session()
    try:
        plan = sending.start_send(session, edition, actor=actor())
    except sending.SendError as error:
        session.rollback()
        flash(explain(error), "error")
        return redirect(url_for(".send", month=month))
    session.commit()
    flash(_("Sending started: %(planned)s deliveries planned.", planned=plan.planned), "ok")
    if plan.excluded_untranslated:
        flash(_("%(count)s English readers get no email: every item on their topics has no "
                "English text and is left out of English editions.",
                count=plan.excluded_untranslated), "info")
    return redirect(url_for(".edition", month=month, _anchor="progress"))


@bp.route("/editions/<month>/schedule", methods=["POST"])
@role_required(Role.EDITOR)
def schedule(month: str) -> str | Response | tuple[str, int]:
    edition = edition_or_404(month)
    form = ScheduleForm()
    if form.validate_on_submit():
        day, clock = form.date.data, form.time.data
        assert day is not None and clock is not None  # nosec B101: DataRequired validated them
        at = datetime.combine(day, clock, tzinfo=_zone())
        session = db.session()
        try:
            sending.schedule(session, edition, at, actor=actor())
        except sending.ScheduleInPast as error:
            session.rollback()
            form.time.errors = [explain(error)]  # next to the field, the form kept
        except sending.SendError as error:
            session.rollback()
            flash(explain(error), "error")
        else:
            session.commit()
            flash(_("Scheduled for %(when)s (%(zone)s).",
                    when=at.strftime("%Y-%m-%d %H:%M"), zone=current_settings().timezone),
                  "ok")
            return redirect(url_for(".edition", month=month))
    return _confirmation(edition, form), 400


@bp.route("/editions/<month>/progress")
@role_required(Role.EDITOR)
def progress(month: str) -> Response:
    """DESIGN.md's progress JSON, polled by the edition page while it sends."""
    session = db.session()
    edition = session.scalar(select(Edition).where(Edition.month == month))
    if edition is None:
        return Response(status=404)
    body: dict[str, Any] = send_progress(session, edition)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def _control(month: str, action: str) -> Response:
    edition = edition_or_404(month)
    session = db.session()
    try:
        if action == "pause":
            sending.pause(session, edition, actor=actor())
            message = _("Paused. Nothing more goes out until you resume.")
        elif action == "resume":
            sending.resume(session, edition, actor=actor())
            message = _("Resumed.")
        else:
            skipped = sending.cancel(session, edition, actor=actor())
            message = _("Cancelled: %(skipped)s unsent deliveries skipped.", skipped=skipped)
    except sending.SendError as error:
        session.rollback()
        flash(explain(error), "error")
    else:
        session.commit()
        flash(message, "ok")
    return redirect(url_for(".edition", month=month, _anchor="progress"))


@bp.route("/editions/<month>/pause", methods=["POST"])
@role_required(Role.EDITOR)
def pause(month: str) -> Response:
    return _control(month, "pause")


@bp.route("/editions/<month>/resume", methods=["POST"])
@role_required(Role.EDITOR)
def resume(month: str) -> Response:
    return _control(month, "resume")


@bp.route("/editions/<month>/unschedule", methods=["POST"])
@role_required(Role.EDITOR)
def unschedule(month: str) -> Response:
    """Scheduled → approved: the send does not start at its time; nothing else changes."""
    edition = edition_or_404(month)
    session = db.session()
    try:
        sending.unschedule(session, edition, actor=actor())
    except sending.SendError as error:
        session.rollback()
        flash(explain(error), "error")
    else:
        session.commit()
        flash(_("Unscheduled. The edition is approved again: send it or schedule it when you "
                "are ready."), "ok")
    return redirect(url_for(".edition", month=month))


@bp.route("/editions/<month>/cancel", methods=["POST"])
@role_required(Role.EDITOR)
def cancel(month: str) -> Response:
    return _control(month, "cancel")


# Deliveries in doubt can be settled only while the send is open: re-queued rows of a cancelled
# send would never go out.
SETTLE_STATES = {EditionStatus.SENDING, EditionStatus.PAUSED}


@bp.route("/editions/<month>/in-doubt", methods=["POST"])
@role_required(Role.EDITOR)
def settle_in_doubt(month: str) -> Response | tuple[str, int]:
    """The editor's choice for deliveries a crash left in doubt: send again, or record sent."""
    edition = edition_or_404(month)
    choice = request.form.get("choice", "")
    if choice not in ("resend", "mark-sent"):
        return render_template("errors/error.html", code=400), 400
    session = db.session()
    if edition.status not in SETTLE_STATES:
        flash(explain(sending.WrongEditionState(edition, SETTLE_STATES, "settle")), "error")
        return redirect(url_for(".edition", month=month, _anchor="progress"))
    moved = resolve_in_doubt(session, edition, resend=choice == "resend", actor=actor())
    session.commit()
    if choice == "resend":
        flash(_("%(count)s deliveries in doubt are queued to be sent again.", count=moved), "ok")
    else:
        flash(_("%(count)s deliveries in doubt are recorded as sent.", count=moved), "ok")
    return redirect(url_for(".edition", month=month, _anchor="progress"))
