"""Suppressions: look up, add by hand, lift with a reason (audited)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from webapp import db
from webapp.admin import bp
from webapp.admin.forms import RemoveSuppressionForm, SuppressionForm
from webapp.admin.refusals import show_on
from webapp.config import current_settings
from webapp.models import Suppression
from webapp.readers.suppression_admin import (
    SuppressionError,
    add_suppression,
    remove_suppression,
    search_suppressions,
)


def _listing(form: SuppressionForm) -> str:
    text = request.args.get("q", "")[:200]
    page = search_suppressions(
        db.session(),
        text,
        request.args.get("page", 1, type=int) or 1,
        erasure_key=current_settings().erasure_key,
    )
    return render_template("admin/suppressions.html", page=page, q=text, form=form)


@bp.route("/suppressions", methods=["GET", "POST"])
def suppressions() -> str | Response:
    form = SuppressionForm()
    if form.validate_on_submit():
        session = db.session()
        try:
            add_suppression(
                session, form.email.data or "", form.note.data or "", actor=current_user
            )
        except SuppressionError as error:
            session.rollback()
            show_on(form, error, "email")
        else:
            session.commit()
            flash(_("The address is suppressed: nothing will be sent to it."), "ok")
            return redirect(url_for("admin.suppressions"))
    return _listing(form)


@bp.route("/suppressions/<int:suppression_id>/remove", methods=["GET", "POST"])
def suppression_remove(suppression_id: int) -> str | Response:
    session = db.session()
    row = session.get(Suppression, suppression_id)
    if row is None:
        abort(404)
    form = RemoveSuppressionForm()
    if form.validate_on_submit():
        try:
            remove_suppression(session, row, form.reason.data or "", actor=current_user)
        except SuppressionError as error:
            session.rollback()
            show_on(form, error, "reason")
        else:
            session.commit()
            flash(_("The suppression is lifted."), "ok")
            return redirect(url_for("admin.suppressions"))
    return render_template("admin/suppression_remove.html", row=row, form=form)
