"""/password-reset: ask for a link, then choose a new password through it.

The request page answers the same whether or not the address has an account, and is
rate-limited per client and per address.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flask import flash, redirect, render_template, request, url_for
from flask import session as cookie
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from werkzeug.wrappers import Response

from webapp import db
from webapp.accounts.password_reset import (
    ResetLinkError,
    ask_for_reset,
    read_reset,
    set_password,
)
from webapp.accounts.users import PasswordTooShort
from webapp.auth import bp
from webapp.auth.forms import NewPasswordForm, ResetRequestForm
from webapp.config import current_settings
from webapp.extensions import current_language, limiter

RESET_ASKED_FOR = "reset_asked_for"


def _address_key() -> str:
    """Rate-limit key: a digest of the address asked for, so the limiter stores no address."""
    address = request.form.get("email", "").strip().lower()
    if not address:
        return get_remote_address()
    return "reset:" + hashlib.sha256(address.encode()).hexdigest()[:32]


@bp.route("/password-reset", methods=["GET", "POST"])
@limiter.limit("5 per minute; 20 per hour", methods=["POST"])
@limiter.limit("3 per hour", key_func=_address_key, methods=["POST"])
def password_reset() -> tuple[str, int] | Response:
    form = ResetRequestForm()
    if form.validate_on_submit():
        session = db.session()
        address = form.email.data or ""
        ask_for_reset(session, address, current_language())
        session.commit()  # the worker looks the address up and sends the mail, if any
        # On to a page of its own, so that reloading it asks for no second mail; the address
        # rides in the signed session cookie, never in a URL that proxies log.
        cookie[RESET_ASKED_FOR] = address.strip()
        return redirect(url_for("auth.password_reset_sent"), code=303)
    status = 400 if form.is_submitted() else 200
    return render_template("auth/reset_request.html", form=form), status


@bp.route("/password-reset/sent")
def password_reset_sent() -> str | Response:
    address = cookie.get(RESET_ASKED_FOR)
    if not address:
        return redirect(url_for("auth.password_reset"))
    return render_template("auth/reset_sent.html", address=address)


@bp.route("/password-reset/<signed>", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def password_reset_link(signed: str) -> str | tuple[str, int] | Response:
    session = db.session()
    try:
        user = read_reset(session, current_settings().secret_key, signed)
    except ResetLinkError:
        return render_template("auth/reset_invalid.html", form=ResetRequestForm()), 410
    form = NewPasswordForm()
    saved = save_new_password(
        form, lambda password: set_password(session, user, password),
        _("Your new password is saved. Please sign in."),
    )
    if saved is not None:
        return saved
    return render_template("auth/reset_password.html", form=form, email=user.email)


def save_new_password(
    form: NewPasswordForm, save: Callable[[str], object], done: str
) -> Response | None:
    """A submitted password form: saved through `save`, committed, and on to sign-in with
    `done` said; None to show the form again (not submitted, or refused on its field)."""
    if not form.validate_on_submit():
        return None
    try:
        save(form.password.data or "")
    except PasswordTooShort as error:
        form.password.errors.append(
            _("Choose a password of at least %(count)d characters.", count=error.minimum)
        )
        return None
    db.session().commit()
    flash(done, "ok")
    return redirect(url_for("auth.login"))
