"""Editions: the list, importing a report, the edition page with its texts, approving."""

from __future__ import annotations

import json

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from emails import default_preheader, default_subject
from webapp import db
from webapp.config import current_settings
from webapp.delivery import sending
from webapp.delivery.variant_previews import progress_by_edition
from webapp.editions.importer.errors import ReportFormatError, ReportIncomplete
from webapp.editions.items import update_texts
from webapp.editions.records import EditionError, list_editions
from webapp.editions.upload import decode_report, import_report_text, lines_around
from webapp.editor import bp
from webapp.editor.common import actor, edition_or_404, explain, note_back_to_draft
from webapp.editor.forms import ButtonForm, EditionTextsForm, ImportForm
from webapp.labels import status_labels
from webapp.models import Edition, EditionStatus, Role
from webapp.security import role_required
from webapp.stats.progress import send_progress

# States in which the edition page shows the send's progress.
SEND_STATES = {EditionStatus.SENDING, EditionStatus.PAUSED, EditionStatus.SENT,
               EditionStatus.CANCELLED}


@bp.route("/")
@role_required(Role.EDITOR)
def home() -> str:
    session = db.session()
    return render_template(
        "editor/home.html",
        editions=list_editions(session),
        progress=progress_by_edition(session),
    )


@bp.route("/editions/new", methods=["GET", "POST"])
@role_required(Role.EDITOR)
def import_edition() -> str | Response | tuple[str, int]:
    form = ImportForm()
    problem: ReportFormatError | None = None
    incomplete: ReportIncomplete | None = None
    if form.validate_on_submit():
        upload = form.report_file.data
        session = db.session()
        try:
            if upload and upload.filename:
                text = decode_report(upload.read())
                # What was uploaded goes into the text box, so a faulty line can be fixed here.
                form.report_text.data = text
            else:
                text = form.report_text.data or ""
            edition = import_report_text(
                session,
                text,
                month=form.month.data or None,
                replace=bool(form.replace.data),
                allow_incomplete=form.incomplete_reason.data or None,
                actor=actor(),
            )
        except ReportFormatError as error:
            session.rollback()
            problem = error
        except ReportIncomplete as error:
            session.rollback()
            incomplete = error
        except EditionError as error:
            session.rollback()
            form.replace.errors = [explain(error)]
        else:
            session.commit()
            count = sum(len(s.items) for s in edition.sections)
            flash(
                _("Imported %(count)s items as a draft. Check the items and their topics, "
                  "then approve.", count=count),
                "ok",
            )
            return redirect(url_for(".edition", month=edition.month))
    page = render_template(
        "editor/import.html",
        form=form,
        problem=problem,
        context=lines_around(form.report_text.data or "", problem.line) if problem else [],
        incomplete=incomplete,
        incomplete_message=explain(incomplete) if incomplete else "",
    )
    return (page, 400) if form.is_submitted() else page


def _automatic_texts(edition: Edition) -> tuple[str, str]:
    """The subject and preheader a reader of every topic would get (the placeholders)."""
    titles = [item.title for section in edition.sections for item in section.items][:3]
    return (
        default_subject(edition.title, edition.month, titles, "zh-CN"),
        default_preheader(edition.title, edition.month, titles, "zh-CN"),
    )


def render_edition(edition: Edition, texts: EditionTextsForm | None = None) -> str:
    session = db.session()
    if texts is None:
        texts = EditionTextsForm(obj=edition)
    subject, preheader = _automatic_texts(edition)
    progress = send_progress(session, edition) if edition.status in SEND_STATES else None
    return render_template(
        "editor/edition.html",
        edition=edition,
        texts=texts,
        auto_subject=subject,
        auto_preheader=preheader,
        progress=progress,
        status_label_json=json.dumps({k: str(v) for k, v in status_labels().items()},
                                     ensure_ascii=False),
        button=ButtonForm(),
        timezone=current_settings().timezone,
    )


@bp.route("/editions/<month>", methods=["GET", "POST"])
@role_required(Role.EDITOR)
def edition(month: str) -> str | Response | tuple[str, int]:
    edition = edition_or_404(month)
    form = EditionTextsForm()
    if not form.is_submitted():
        return render_edition(edition)
    if form.validate_on_submit():
        session = db.session()
        was_approved = edition.status == EditionStatus.APPROVED
        try:
            update_texts(
                session,
                edition,
                subject=form.subject.data or "",
                preheader=form.preheader.data or "",
                intro=form.intro.data or "",
                actor=actor(),
            )
        except EditionError as error:
            session.rollback()
            flash(explain(error), "error")
        else:
            session.commit()
            flash(_("Saved."), "ok")
            note_back_to_draft(was_approved, edition)
            return redirect(url_for(".edition", month=month))
    return render_edition(edition, form), 400


@bp.route("/editions/<month>/approve", methods=["POST"])
@role_required(Role.EDITOR)
def approve(month: str) -> Response:
    # Every POST is checked for its CSRF token by CSRFProtect before it gets here.
    edition = edition_or_404(month)
    session = db.session()
    try:
        sending.approve(session, edition, actor=actor())
    except (sending.SendError, EditionError) as error:
        session.rollback()
        flash(explain(error), "error")
    else:
        session.commit()
        flash(_("Approved. Preview it once more, send a test, then send it."), "ok")
    return redirect(url_for(".edition", month=month))
