from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from webapp import db
from webapp.accounts.sessions import end_sessions, sign_out_everywhere
from webapp.accounts.users import authenticate
from webapp.auth import bp, home_for
from webapp.auth.forms import ButtonForm, LoginForm
from webapp.auth.two_factor import start_code_step
from webapp.extensions import limiter
from webapp.models import Role
from webapp.security import role_required


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: an absolute or scheme-relative URL would be an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", methods=["POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    form = LoginForm()
    if form.validate_on_submit():
        session = db.session()
        user = authenticate(session, form.email.data or "", form.password.data or "")
        if user is not None and user.two_factor:
            # The password was right; signing in waits for the code: only the pending sign-in
            # is stored, not the time of a sign-in that has not happened yet.
            session.rollback()
            start_code_step(user, _safe_next(request.args.get("next")))
            return redirect(url_for("auth.login_code"))
        if user is not None:
            session.commit()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or home_for(user.role))
        # One message for an unknown address and a wrong password: no account enumeration.
        # Shown at the address, where a retry starts.
        form.email.errors = [*form.email.errors, _("The email or password is not correct.")]
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    if current_user.is_authenticated:
        # Not only this cookie: a copy of it (a shared computer, a stolen cookie) ends too.
        end_sessions(db.session(), current_user)
        db.session().commit()
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@role_required(Role.EDITOR)
def sign_out_everywhere_now() -> Response:
    if not ButtonForm().validate_on_submit():
        return redirect(url_for("auth.two_factor_page"))
    sign_out_everywhere(db.session(), current_user)
    db.session().commit()
    logout_user()
    flash(_("You have signed out in every browser. Please sign in again."), "info")
    return redirect(url_for("auth.login"))
