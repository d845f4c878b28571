"""Readers: find, look into, add, change topics, unsubscribe, rotate the link, CSV in (the
export and the import itself run as background jobs: see webapp.admin.jobs)."""

from __future__ import annotations

from typing import Any

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
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from webapp import db
from webapp.admin import bp
from webapp.admin.forms import ButtonForm, ImportForm, NewReaderForm, ReaderTopicsForm
from webapp.admin.import_reasons import row_column, row_reason
from webapp.admin.refusals import explain, show_on
from webapp.config import current_settings
from webapp.labels import label
from webapp.models import LANGUAGES, Subscriber, SubscriberStatus
from webapp.readers.csv_jobs import queue_import, queue_staged_import
from webapp.readers.csv_staged import checked_again, forget_staged, stage_import, staged_import
from webapp.readers.csv_values import (
    Attestation,
    AttestationMissing,
    AttestationNoteMissing,
    ConsentBasis,
)
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
from webapp.readers.subscribers_csv import (
    Checked,
    CsvImportError,
    ImportOptions,
    RowError,
    check_csv,
    preview_of,
)
from webapp.readers.topics import active_topics

# 100,000 readers with Chinese names fit; the request around it holds the text twice at most
# (the file, then the text posted back with the confirmation) and the form.
MAX_CSV_BYTES = 12 * 1024 * 1024
_IMPORT_REQUEST_BYTES = 2 * MAX_CSV_BYTES + 1024 * 1024
_IMPORT_ENDPOINT = "admin.readers_import"


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


class _Unreadable(Exception):
    """The upload itself cannot be read: not UTF-8, or too large."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _uploaded_text(form: ImportForm) -> str:
    """The CSV from the file field, else from the text box; raises _Unreadable."""
    upload = form.file.data
    if upload is not None and upload.filename:
        raw = upload.read(MAX_CSV_BYTES + 1)
        if len(raw) > MAX_CSV_BYTES:
            raise _Unreadable(_too_big())
        try:
            return str(raw.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise _Unreadable(
                _("The file is not UTF-8 text: save it as “CSV UTF-8” and choose it again.")
            ) from None
    text = form.text.data or ""
    if len(text.encode()) > MAX_CSV_BYTES:
        raise _Unreadable(_too_big())
    return text


def _too_big() -> str:
    return str(_("The file is larger than %(size)s MB: split it into smaller files.",
             size=MAX_CSV_BYTES // (1024 * 1024)))


@bp.url_value_preprocessor
def _import_limits(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # A list of 100,000 readers is larger than the app's MAX_CONTENT_LENGTH, and its preview
    # posts the text back with the confirmation. Set before CSRFProtect reads the form.
    if endpoint == _IMPORT_ENDPOINT:
        request.max_content_length = _IMPORT_REQUEST_BYTES
        request.max_form_memory_size = _IMPORT_REQUEST_BYTES


@bp.errorhandler(RequestEntityTooLarge)
def _upload_too_large(error: RequestEntityTooLarge) -> tuple[str, int]:
    if request.endpoint != _IMPORT_ENDPOINT:
        return render_template("errors/error.html", code=413), 413
    return _import_page(ImportForm(formdata=None), file_error=_too_big()), 413


def _import_page(
    form: ImportForm, *, file_error: str | None = None, whole_file: list[RowError] | None = None
) -> str:
    """The import form: the topics a file may name, and why a file was refused, if it was."""
    if file_error:
        form.file.errors = [file_error]
    return render_template(
        "admin/import.html",
        form=form,
        topics=active_topics(db.session()),
        bases=consent_bases(),
        header_errors=whole_file or [],
        reason=row_reason,
        column=row_column,
        max_mb=MAX_CSV_BYTES // (1024 * 1024),
    )


def _options(form: ImportForm) -> ImportOptions | None:
    """The admin's attestation and choices, or None with the refusal on its field."""
    try:
        attestation = Attestation.of(form.consent_basis.data, form.consent_note.data)
    except AttestationMissing:
        form.consent_basis.errors = [_("Say how these readers agreed to receive the report.")]
        return None
    except AttestationNoteMissing:
        form.consent_note.errors = [_("Describe in your words how these readers agreed.")]
        return None
    return ImportOptions(attestation, all_topics=bool(form.all_topics.data))


@bp.route("/subscribers/import", methods=["GET", "POST"])
def readers_import() -> str | BaseResponse:
    """GET: the form. POST: a preview of what the CSV would change; POST with `confirm`:
    the import itself, which checks everything again."""
    session = db.session()
    form = ImportForm()
    if not form.validate_on_submit():
        return _import_page(form)
    token = request.form.get("staged", "")
    if token and request.form.get("confirm"):
        return _confirm_staged(form, token)
    try:
        text = _uploaded_text(form)
    except _Unreadable as unreadable:
        return _import_page(form, file_error=unreadable.message)
    if not text.strip():
        form.text.errors.append(_("Choose a file or paste the CSV."))
        return _import_page(form)
    options = _options(form)
    if options is None:
        return _import_page(form)
    erasure_key = current_settings().erasure_key
    if request.form.get("confirm"):
        # Checked whole again now; the worker imports it in batches, the job's page shows how
        # far it has gone and then what it did.
        try:
            job = queue_import(
                session,
                text,
                erasure_key=erasure_key,
                options=options,
                skip_invalid=bool(form.skip_invalid.data),
                actor=current_user,
            )
        except CsvImportError as error:
            session.rollback()
            if error.whole_file:  # skipping rows cannot help: no such offer
                return _import_page(form, whole_file=error.errors)
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
        checked = check_csv(session, text, erasure_key, all_topics=options.all_topics)
    except CsvImportError as error:
        return _import_page(form, whole_file=error.errors)
    # Kept on the server for the confirmation: it is neither posted back nor read again.
    token = stage_import(current_settings().var_dir, checked, all_topics=options.all_topics,
                         actor_id=current_user.id)
    return _preview_page(form, checked, token)


def _preview_page(form: ImportForm, checked: Checked, token: str) -> str:
    return render_template(
        "admin/import_preview.html",
        form=form,
        preview=preview_of(checked),
        staged=token,
        reason=row_reason,
        column=row_column,
        bases=consent_bases(),
    )


def _confirm_staged(form: ImportForm, token: str) -> str | BaseResponse:
    """Queue the import of the file previewed under `token`, from its rows as checked then;
    the worker checks each batch against the database again as it writes it."""
    session = db.session()
    options = _options(form)
    if options is None:
        return _import_page(form)
    var_dir = current_settings().var_dir
    staged = staged_import(var_dir, token, all_topics=options.all_topics,
                           actor_id=current_user.id)
    if staged is None:
        form.file.errors = [_("This preview is no longer kept: choose the file again.")]
        return _import_page(form)
    try:
        job = queue_staged_import(session, staged, erasure_key=current_settings().erasure_key,
                                  options=options, skip_invalid=bool(form.skip_invalid.data),
                                  actor=current_user)
    except CsvImportError:
        session.rollback()
        flash(
            _("Nothing was imported: the file has errors. Fix them or choose to skip those rows."),
            "error",
        )
        return _preview_page(form, checked_again(session, staged), token)
    session.commit()
    forget_staged(var_dir, token)
    return redirect(url_for("admin.job", job_id=job.id), code=303)


def consent_bases() -> list[tuple[str, str]]:
    """The choices of how a list's readers agreed, as the form offers them: the consent
    ledger's words (webapp.labels), "other" pointing at the note below it."""
    worded = {ConsentBasis.OTHER: str(_("Other (say how below)"))}
    return [(basis.value, worded.get(basis) or label(basis, "consent_basis"))
            for basis in ConsentBasis]
