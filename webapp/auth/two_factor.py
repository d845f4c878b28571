"""Two-factor sign-in: the code step after the password, and enrolment for every user."""

from __future__ import annotations

import textwrap
import time

from flask import flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from werkzeug.wrappers import Response

from webapp import db
from webapp.accounts import two_factor
from webapp.accounts.two_factor import TwoFactorError
from webapp.auth import bp, home_for
from webapp.auth.forms import ButtonForm, CodeForm
from webapp.extensions import limiter
from webapp.models import Role, User, utcnow
from webapp.security import role_required

PENDING = "pending_login"
CODE_STEP_SECONDS = 300
MAX_TRIES = 5


def start_code_step(user: User, next_url: str | None) -> None:
    """Remember, in the signed session cookie, whose password was right and since when."""
    session[PENDING] = {"user": user.id, "at": time.time(), "next": next_url, "tries": 0}


def _pending_user() -> User | None:
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > CODE_STEP_SECONDS:
        session.pop(PENDING, None)
        return None
    user = db.session().get(User, pending.get("user"))
    return user if user is not None and user.active and user.two_factor else None


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", methods=["POST"])
def login_code() -> str | Response:
    user = _pending_user()
    if user is None:
        flash(_("Please sign in again."), "error")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        if two_factor.verify(user, form.code.data or ""):
            user.last_login_at = utcnow()
            db.session().commit()  # with the used time step: the code cannot be replayed
            next_url = session.pop(PENDING).get("next")
            login_user(user)
            return redirect(next_url or home_for(user.role))
        pending = session[PENDING]
        pending["tries"] = pending.get("tries", 0) + 1
        session[PENDING] = pending
        if pending["tries"] >= MAX_TRIES:
            session.pop(PENDING, None)
            flash(_("Too many wrong codes. Please sign in again."), "error")
            return redirect(url_for("auth.login"))
        form.code.errors.append(_("The code is not correct. Please try again."))
    return render_template("auth/login_code.html", form=form)


def _commit_and_stay_signed_in(user: User) -> None:
    """The change ended the user's sessions (every other browser signs in again); this
    browser, where they made it, carries on with the new session version."""
    db.session().commit()
    login_user(user)


@bp.route("/account/two-factor")
@role_required(Role.EDITOR)
def two_factor_page() -> str:
    user: User = current_user
    qr = uri = None
    if not user.two_factor and user.totp_secret:
        uri = two_factor.provisioning_uri(user)
        qr = two_factor.qr_svg(uri)
    return render_template(
        "auth/two_factor.html",
        user=user,
        qr=qr,
        # In groups of four, as authenticator apps accept it typed in.
        secret=" ".join(textwrap.wrap(user.totp_secret, 4)) if qr and user.totp_secret else None,
        start_form=ButtonForm(),
        code_form=CodeForm(),
        may_switch_off=user.role != Role.ADMIN,
    )


@bp.route("/account/two-factor/start", methods=["POST"])
@role_required(Role.EDITOR)
def two_factor_start() -> Response:
    if ButtonForm().validate_on_submit():
        try:
            two_factor.begin_enrolment(current_user)
        except TwoFactorError:
            pass
        else:
            db.session().commit()
    return redirect(url_for("auth.two_factor_page"))


@bp.route("/account/two-factor/confirm", methods=["POST"])
@role_required(Role.EDITOR)
def two_factor_confirm() -> str | Response:
    form = CodeForm()
    if form.validate_on_submit():
        try:
            two_factor.confirm_enrolment(db.session(), current_user, form.code.data or "")
        except TwoFactorError:
            db.session().rollback()
            flash(_("The code is not correct. Please try again."), "error")
        else:
            _commit_and_stay_signed_in(current_user)
            flash(_("Two-factor sign-in is on. Signing in now asks for a code."), "ok")
    return redirect(url_for("auth.two_factor_page"))


@bp.route("/account/two-factor/off", methods=["POST"])
@role_required(Role.EDITOR)
def two_factor_off() -> Response:
    form = CodeForm()
    if form.validate_on_submit():
        try:
            two_factor.switch_off(db.session(), current_user, form.code.data or "")
        except TwoFactorError:
            db.session().rollback()
            flash(
                _("Two-factor sign-in stays on: the code is not correct, or admins must keep it."),
                "error",
            )
        else:
            _commit_and_stay_signed_in(current_user)
            flash(_("Two-factor sign-in is off."), "ok")
    return redirect(url_for("auth.two_factor_page"))
