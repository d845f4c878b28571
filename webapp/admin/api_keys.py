"""API keys: list, create (the key shown once, after a redirect), revoke after a confirmation."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from webapp import db
from webapp.accounts.api_keys import (
    ApiKeyError,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)
from webapp.admin import bp, shown_once
from webapp.admin.forms import ApiKeyForm, ButtonForm
from webapp.admin.refusals import explain, show_on
from webapp.models import SCOPES, ApiKey, utcnow

# The key just made, for the one page that shows it (webapp.admin.shown_once).
JUST_MADE = "api_key_just_made"


def _key(key_id: int) -> ApiKey:
    key = db.session().get(ApiKey, key_id)
    if key is None:
        abort(404)
    return key


@bp.route("/api-keys", methods=["GET", "POST"])
def api_keys() -> str | Response:
    session = db.session()
    form = ApiKeyForm()
    if form.validate_on_submit():
        try:
            made = create_api_key(
                session, form.name.data or "", form.scopes.data or [],
                actor=current_user, now=utcnow(),
            )
        except ApiKeyError as error:
            session.rollback()
            show_on(form, error, "name")
        else:
            session.commit()
            shown_once.keep(JUST_MADE, made.row.id, made.key)
            return redirect(url_for("admin.api_key_created", key_id=made.row.id), code=303)
    return render_template(
        "admin/api_keys.html", keys=list_api_keys(session), form=form, scopes=SCOPES
    )


@bp.route("/api-keys/<int:key_id>/created")
def api_key_created(key_id: int) -> Response:
    key = _key(key_id)
    return shown_once.page("admin/api_key_created.html", key=key,
                           secret=shown_once.take(JUST_MADE, key.id))


@bp.route("/api-keys/<int:key_id>/revoke", methods=["GET", "POST"])
def api_key_revoke(key_id: int) -> str | Response:
    key = _key(key_id)
    form = ButtonForm()
    if form.validate_on_submit():
        session = db.session()
        try:
            revoke_api_key(session, key, actor=current_user, now=utcnow())
        except ApiKeyError as error:
            session.rollback()
            flash(explain(error), "error")
        else:
            session.commit()
            flash(_("The key is revoked: requests with it are refused from now on."), "ok")
        return redirect(url_for("admin.api_keys"))
    return render_template("admin/api_key_revoke.html", key=key, form=form)
