"""Long work in the background: a readers' CSV import or export, its progress, its result and
the export's file."""

from __future__ import annotations

from flask import Response, abort, flash, jsonify, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from webapp import db
from webapp.admin import bp
from webapp.admin.forms import ButtonForm
from webapp.admin.import_reasons import row_column, row_reason
from webapp.config import current_settings
from webapp.models import BackgroundJob, JobKind
from webapp.readers.csv_jobs import Progress, export_file, queue_export


def _job(job_id: int) -> BackgroundJob:
    job = db.session().get(BackgroundJob, job_id)
    if job is None:
        abort(404)
    return job


@bp.route("/subscribers/export", methods=["POST"])
def readers_export() -> BaseResponse:
    """Queue the export of every reader; its page shows the progress, then the download."""
    if not ButtonForm().validate_on_submit():
        return redirect(url_for("admin.readers"), code=303)
    session = db.session()
    job = queue_export(session)
    session.commit()
    return redirect(url_for("admin.job", job_id=job.id), code=303)


@bp.route("/jobs/<int:job_id>")
def job(job_id: int) -> str:
    job = _job(job_id)
    return render_template(
        "admin/job.html",
        job=job,
        progress=Progress.of(job),
        ready=export_file(job, current_settings().var_dir) is not None,
        button=ButtonForm(),
        reason=row_reason,
        column=row_column,
    )


@bp.route("/jobs/<int:job_id>/status.json")
def job_status(job_id: int) -> Response:
    """The progress as JSON, polled by the job's page while the worker is at it."""
    response = jsonify(Progress.of(_job(job_id)).as_json())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/jobs/<int:job_id>/download")
def job_download(job_id: int) -> BaseResponse:
    """An export's file: admins only (as every admin page), for a day after it was made."""
    job = _job(job_id)
    path = export_file(job, current_settings().var_dir)
    if path is None:
        if job.kind == JobKind.CSV_EXPORT:
            flash(_("The file is not ready, or was deleted after a day. Export again."), "error")
        return redirect(url_for("admin.job", job_id=job_id), code=303)
    # The file starts with a BOM (as the export always did), so spreadsheets read UTF-8.
    response = send_file(path, mimetype="text/csv", as_attachment=True,
                         download_name="yuebao-readers.csv", max_age=0)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response
