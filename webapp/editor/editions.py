"""Editions: the list, importing a report, the edition page with its texts, approving."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from emails import default_subject
from emails.edition import english_subject, report_title, variant_preheader
from emails.i18n import strings
from webapp import db
from webapp.branding import brand
from webapp.config import current_settings
from webapp.delivery import sending
from webapp.delivery.variant_previews import progress_by_edition
from webapp.editions.drafting_job import translation_jobs
from webapp.editions.english import EnglishTexts, untranslated_item_ids, update_english
from webapp.editions.importer.errors import (
    MAX_REPORT_BYTES,
    ReportFileError,
    ReportFormatError,
    ReportIncomplete,
    ReportTooLarge,
)
from webapp.editions.importer.reading import text_source
from webapp.editions.importer.topics import suggest_topics
from webapp.editions.items import ItemInvalid, update_texts
from webapp.editions.records import EditionError, list_editions
from webapp.editions.upload import import_report_source, lines_around, read_upload
from webapp.editor import bp
from webapp.editor.common import actor, edition_or_404, explain, note_back_to_draft, show_refusal
from webapp.editor.forms import (
    AcceptDraftsForm,
    ApproveForm,
    ButtonForm,
    EditionTextsForm,
    EnglishTextsForm,
    ImportForm,
)
from webapp.labels import status_labels
from webapp.mailer import edition_content
from webapp.models import (
    SECTION_KEYS,
    Edition,
    EditionStatus,
    EnglishStatus,
    Role,
    UntranslatedPolicy,
)
from webapp.readers.topics import keyword_rules
from webapp.security import role_required
from webapp.stats.figures import edition_funnel
from webapp.stats.progress import send_progress

# States in which the edition page shows the send's progress, and the finished ones that also
# show its results.
SEND_STATES = {EditionStatus.SENDING, EditionStatus.PAUSED, EditionStatus.SENT,
               EditionStatus.CANCELLED}
FINISHED_STATES = {EditionStatus.SENT, EditionStatus.CANCELLED}


@bp.route("/")
@role_required(Role.EDITOR)
def home() -> str:
    session = db.session()
    return render_template(
        "editor/home.html",
        editions=list_editions(session),
        progress=progress_by_edition(session),
    )


# A report file may be larger than the app's MAX_CONTENT_LENGTH: up to MAX_REPORT_BYTES, with
# room for the form around it (and the report's text, pasted or put back after an error).
_IMPORT_FORM_BYTES = 4 * 1024 * 1024
_IMPORT_ENDPOINT = "editor.import_edition"


@bp.url_value_preprocessor
def _import_limits(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # URL value preprocessors run before any before_request function, so this is in force
    # when CSRFProtect first reads the form; a larger upload is refused by its Content-Length
    # (or as its stream passes the limit), never read whole.
    if endpoint == _IMPORT_ENDPOINT:
        request.max_content_length = MAX_REPORT_BYTES + _IMPORT_FORM_BYTES
        request.max_form_memory_size = _IMPORT_FORM_BYTES


@bp.errorhandler(RequestEntityTooLarge)
def _upload_too_large(error: RequestEntityTooLarge) -> tuple[str, int]:
    if request.endpoint != _IMPORT_ENDPOINT:
        return render_template("errors/error.html", code=413), 413
    return _import_page(ImportForm(formdata=None), ReportTooLarge()), 413


def _import_page(
    form: ImportForm,
    problem: ReportFormatError | None,
    incomplete: ReportIncomplete | None = None,
) -> str:
    return render_template(
        "editor/import.html",
        form=form,
        problem=problem,
        explained=explain(problem) if problem else "",
        context=lines_around(form.report_text.data or "", problem.line) if problem else [],
        # The field a refusal is about, for the error summary's link and the field's
        # description: a file that cannot be read at all, else the text (a file's text is put
        # there, so that a faulty line can be fixed in place).
        problem_field="report_file" if isinstance(problem, ReportFileError) else "report_text",
        incomplete=incomplete,
        incomplete_message=explain(incomplete) if incomplete else "",
        max_mb=MAX_REPORT_BYTES // (1024 * 1024),
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
                source = read_upload(upload.stream)
                # The file's text goes into the text box, so a faulty line can be fixed here.
                form.report_text.data = source.text
            else:
                source = text_source(form.report_text.data or "")
            edition = import_report_source(
                session,
                source,
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
    page = _import_page(form, problem, incomplete)
    return (page, 400) if form.is_submitted() else page


def _automatic_texts(edition: Edition) -> tuple[str, str]:
    """The subject and preheader a reader of every topic would get (the placeholders)."""
    titles = [item.title for section in edition.sections for item in section.items]
    return (
        default_subject(edition.title, edition.month, titles[:1], "zh-CN"),
        variant_preheader(edition.title, edition.month, titles[:4], len(titles), "zh-CN"),
    )


def _english_form(edition: Edition) -> EnglishTextsForm:
    form = EnglishTextsForm(obj=edition)
    form.untranslated.data = edition.untranslated.value
    for section in edition.sections:
        getattr(form, f"section_{section.key}").data = section.title_en
    return form


def _without_keyword_match(edition: Edition) -> set[int]:
    """Items without a topic for which the keyword rules find none either: the page says so,
    so the editor knows to choose topics by hand."""
    topicless = [(s.key, i) for s in edition.sections for i in s.items if not i.topics]
    if not topicless:
        return set()
    rules = keyword_rules(db.session())
    return {
        item.id
        for key, item in topicless
        if not suggest_topics(
            title=item.title, summary=item.summary, commentary=item.commentary,
            section_key=key, rules=rules,
        )
    }


def render_edition(
    edition: Edition,
    texts: EditionTextsForm | None = None,
    english: EnglishTextsForm | None = None,
) -> str:
    session = db.session()
    if texts is None:
        texts = EditionTextsForm(obj=edition)
    if english is None:
        english = _english_form(edition)
    subject, preheader = _automatic_texts(edition)
    settings = current_settings()
    content = edition_content(edition)
    org_en = brand(session, settings).org_name_en  # as English readers' emails name the firm
    progress = send_progress(session, edition) if edition.status in SEND_STATES else None
    results = (edition_funnel(session, edition.id)
               if progress and edition.status in FINISHED_STATES else None)
    return render_template(
        "editor/edition.html",
        edition=edition,
        texts=texts,
        english=english,
        untranslated=untranslated_item_ids(edition),
        item_count=sum(len(section.items) for section in edition.sections),
        section_names_en={key: strings("en")[f"section.{key}"] for key in SECTION_KEYS},
        no_keyword_match=_without_keyword_match(edition),
        auto_subject=subject,
        auto_preheader=preheader,
        auto_title_en=report_title(content, "en", org_en),
        auto_subject_en=english_subject(
            edition.title_en, org_en, edition.month,
            [i.title_en for s in content.sections for i in s.items
             if i.title_en and i.english_accepted][:1],
        ),
        progress=progress,
        results=results,
        translate_on=settings.translate == "aws",
        translation_job=next(iter(translation_jobs(session, edition.month, limit=20)), None),
        drafted_texts=len(edition.english_drafts or ()),
        drafted_items=sum(1 for s in edition.sections for i in s.items
                          if i.english_status == EnglishStatus.MACHINE),
        accept_form=AcceptDraftsForm(formdata=None),
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
        except ItemInvalid as error:
            session.rollback()
            show_refusal(form, error)
        except EditionError as error:
            session.rollback()
            flash(explain(error), "error")
        else:
            session.commit()
            flash(_("Saved."), "ok")
            note_back_to_draft(was_approved, edition)
            return redirect(url_for(".edition", month=month))
    return render_edition(edition, form), 400


@bp.route("/editions/<month>/english", methods=["POST"])
@role_required(Role.EDITOR)
def english_texts(month: str) -> str | Response | tuple[str, int]:
    edition = edition_or_404(month)
    form = EnglishTextsForm()
    if form.validate_on_submit():
        session = db.session()
        was_approved = edition.status == EditionStatus.APPROVED
        texts = EnglishTexts(
            title=form.title_en.data or "",
            subject=form.subject_en.data or "",
            preheader=form.preheader_en.data or "",
            intro=form.intro_en.data or "",
            sections={
                s.key: getattr(form, f"section_{s.key}").data or "" for s in edition.sections
            },
            untranslated=UntranslatedPolicy(form.untranslated.data or "marked"),
        )
        try:
            update_english(session, edition, texts, actor=actor())
        except ItemInvalid as error:
            session.rollback()
            show_refusal(form, error)
        except EditionError as error:
            session.rollback()
            flash(explain(error), "error")
        else:
            session.commit()
            flash(_("Saved."), "ok")
            note_back_to_draft(was_approved, edition)
            return redirect(url_for(".edition", month=month, _anchor="english"))
    return render_edition(edition, english=form), 400


@bp.route("/editions/<month>/approve", methods=["POST"])
@role_required(Role.EDITOR)
def approve(month: str) -> str | Response | tuple[str, int]:
    # Every POST is checked for its CSRF token by CSRFProtect before it gets here.
    edition = edition_or_404(month)
    form = ApproveForm()
    session = db.session()
    try:
        sending.approve(
            session, edition, actor=actor(), allow_untranslated=bool(form.allow_untranslated.data)
        )
    except sending.UntranslatedForEnglishReaders as error:
        # The second step: how many readers and items, and a box to tick.
        session.rollback()
        unticked = bool(form.confirming.data)
        if unticked:
            form.allow_untranslated.errors = [
                _("Tick the box to approve with these items in Chinese, or change the edition.")
            ]
        form.confirming.data = "1"
        page = render_template("editor/approve.html", edition=edition, refusal=error, form=form)
        return (page, 400) if unticked else page
    except (sending.SendError, EditionError) as error:
        session.rollback()
        flash(explain(error), "error")
    else:
        session.commit()
        flash(_("Approved. Preview it once more, send a test, then send it."), "ok")
    return redirect(url_for(".edition", month=month))
