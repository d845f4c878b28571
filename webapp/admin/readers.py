"""Readers: find, look into, add, change topics, unsubscribe, rotate the link, CSV in (the
export and the import itself run as background jobs: see webapp.admin.jobs)."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from webapp import db
from webapp.admin import bp
from webapp.admin.forms import ButtonForm, ImportForm, NewReaderForm, ReaderTopicsForm
from webapp.admin.refusals import explain, show_on
from webapp.config import current_settings
from webapp.models import LANGUAGES, Subscriber, SubscriberStatus
from webapp.readers.csv_jobs import queue_import
from webapp.readers.links import rotate_preferences_token
from webapp.readers.reader_admin import (
    NewReader,
    ReaderAdminError,
    ReaderExists,
    ReaderFilter,
    add_reader,
    change_topics,
    reader_history,
    search_readers,
    unsubscribe_reader,
)
from webapp.readers.subscribers_csv import CsvImportError, preview_subscribers_csv
from webapp.readers.topics import active_topics

MAX_CSV_BYTES = 5 * 1024 * 1024


def _reader(subscriber_id: int) -> Subscriber:
    subscriber = db.session().get(Subscriber, subscriber_id)
    if subscriber is None:
        abort(404)
    return subscriber


@bp.route("/subscribers")
def readers() -> str:
    session = db.session()
    wanted = ReaderFilter(
        text=request.args.get("q", "")[:200],
        status=request.args.get("status", ""),
        topic=request.args.get("topic", ""),
        language=request.args.get("language", ""),
        page=request.args.get("page", 1, type=int) or 1,
    )
    return render_template(
        "admin/readers.html",
        page=search_readers(session, wanted),
        wanted=wanted,
        statuses=[s.value for s in SubscriberStatus],
        topics=active_topics(session),
        languages=LANGUAGES,
    )


@bp.route("/subscribers/new", methods=["GET", "POST"])
def reader_new() -> str | BaseResponse:
    session = db.session()
    form = NewReaderForm()
    if not form.is_submitted():
        form.language.data = "zh-CN"
    if form.validate_on_submit():
        wanted = NewReader(
            email=form.email.data or "",
            topics=form.topics.data or [],
            language=form.language.data or "zh-CN",
            consent_note=form.consent_note.data or "",
            name=form.name.data,
            company=form.company.data,
        )
        try:
            subscriber = add_reader(
                session, wanted, actor=current_user, erasure_key=current_settings().erasure_key
            )
        except ReaderExists as exists:
            session.rollback()
            flash(explain(exists), "error")
            return redirect(url_for("admin.reader", subscriber_id=exists.subscriber.id))
        except ReaderAdminError as error:
            session.rollback()
            show_on(form, error, "email")
        else:
            session.commit()
            flash(_("Reader added."), "ok")
            return redirect(url_for("admin.reader", subscriber_id=subscriber.id))
    return render_template("admin/reader_new.html", form=form, topics=active_topics(session))


@bp.route("/subscribers/<int:subscriber_id>")
def reader(subscriber_id: int) -> str:
    session = db.session()
    subscriber = _reader(subscriber_id)
    form = ReaderTopicsForm(formdata=None)
    form.topics.data = [t.slug for t in subscriber.topics]
    form.language.data = subscriber.language
    return render_template(
        "admin/reader.html",
        subscriber=subscriber,
        history=reader_history(session, subscriber),
        form=form,
        button=ButtonForm(),
        topics=active_topics(session),
    )


@bp.route("/subscribers/<int:subscriber_id>/topics", methods=["POST"])
def reader_topics(subscriber_id: int) -> BaseResponse:
    session = db.session()
    subscriber = _reader(subscriber_id)
    form = ReaderTopicsForm()
    if form.validate_on_submit():
        try:
            changed = change_topics(
                session,
                subscriber,
                form.topics.data or [],
                form.language.data or "",
                actor=current_user,
            )
        except ReaderAdminError as error:
            session.rollback()
            flash(explain(error), "error")
        else:
            session.commit()
            flash(_("Saved.") if changed else _("Nothing changed."), "ok")
    return redirect(url_for("admin.reader", subscriber_id=subscriber_id))


@bp.route("/subscribers/<int:subscriber_id>/unsubscribe", methods=["POST"])
def reader_unsubscribe(subscriber_id: int) -> BaseResponse:
    session = db.session()
    subscriber = _reader(subscriber_id)
    if ButtonForm().validate_on_submit() and unsubscribe_reader(
        session, current_settings(), subscriber, actor=current_user
    ):
        session.commit()
        flash(_("The reader is unsubscribed."), "ok")
    return redirect(url_for("admin.reader", subscriber_id=subscriber_id))


@bp.route("/subscribers/<int:subscriber_id>/rotate-token", methods=["POST"])
def reader_rotate_token(subscriber_id: int) -> BaseResponse:
    session = db.session()
    subscriber = _reader(subscriber_id)
    if ButtonForm().validate_on_submit():
        rotate_preferences_token(session, subscriber, actor=current_user)
        session.commit()
        flash(
            _(
                "The preferences link is replaced; the old one no longer opens the preferences "
                "page. Unsubscribe links in earlier emails keep working."
            ),
            "ok",
        )
    return redirect(url_for("admin.reader", subscriber_id=subscriber_id))


def _uploaded_text(form: ImportForm) -> str | None:
    """The CSV from the file field, else from the text box; None when not UTF-8."""
    upload = form.file.data
    if upload is not None and upload.filename:
        raw = upload.read(MAX_CSV_BYTES + 1)
        if len(raw) > MAX_CSV_BYTES:
            return None
        try:
            return str(raw.decode("utf-8-sig"))
        except UnicodeDecodeError:
            return None
    return form.text.data or ""


@bp.route("/subscribers/import", methods=["GET", "POST"])
def readers_import() -> str | BaseResponse:
    """GET: the form. POST: a preview of what the CSV would change; POST with `confirm`:
    the import itself, which checks everything again."""
    session = db.session()
    form = ImportForm()
    if not form.validate_on_submit():
        return render_template("admin/import.html", form=form)
    text = _uploaded_text(form)
    if text is None:
        form.file.errors.append(_("The file must be UTF-8 text of at most 5 MB."))
        return render_template("admin/import.html", form=form)
    if not text.strip():
        form.text.errors.append(_("Choose a file or paste the CSV."))
        return render_template("admin/import.html", form=form)
    erasure_key = current_settings().erasure_key
    if request.form.get("confirm"):
        # Checked whole again now; the worker imports it in batches, the job's page shows how
        # far it has gone and then what it did.
        try:
            job = queue_import(
                session,
                text,
                erasure_key=erasure_key,
                skip_invalid=bool(form.skip_invalid.data),
                actor=current_user,
            )
        except CsvImportError:
            session.rollback()
            flash(
                _(
                    "Nothing was imported: the file has errors. Fix them or choose to skip "
                    "those rows."
                ),
                "error",
            )
        else:
            session.commit()
            return redirect(url_for("admin.job", job_id=job.id), code=303)
    try:
        preview = preview_subscribers_csv(session, text, erasure_key=erasure_key)
    except CsvImportError as error:
        return render_template("admin/import.html", form=form, header_errors=error.errors)
    return render_template("admin/import_preview.html", form=form, preview=preview, text=text)
