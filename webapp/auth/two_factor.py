"""Two-factor sign-in: the code step after the password (an authenticator or recovery code),
enrolment for every user, and their recovery codes."""

from __future__ import annotations

import textwrap

from flask import flash, make_response, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user
from werkzeug.wrappers import Response

from webapp import db
from webapp.accounts import sign_in, two_factor
from webapp.accounts.recovery_codes import looks_like_recovery_code, recovery_codes_left
from webapp.accounts.two_factor import CodeReused, TwoFactorError
from webapp.auth import bp, home_for
from webapp.auth.forms import ButtonForm, CodeForm
from webapp.extensions import limiter
from webapp.models import Role, User, utcnow
from webapp.security import role_required

PENDING = "pending_login"


RENEW_PREFIX = "renew"


def start_code_step(user: User, next_url: str | None) -> None:
    """Start a pending sign-in (counted in the database) and give the browser its key."""
    key = sign_in.start_sign_in(db.session(), user, utcnow())
    db.session().commit()
    session[PENDING] = {"key": key, "next": next_url}


def _pending_key() -> str | None:
    pending = session.get(PENDING)
    key = pending.get("key") if isinstance(pending, dict) else None
    return key if isinstance(key, str) else None


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", methods=["POST"])
def login_code() -> str | Response:
    key = _pending_key()
    if key is None or sign_in.pending_user(db.session(), key, utcnow()) is None:
        session.pop(PENDING, None)
        flash(_("Please sign in again."), "error")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        dbs = db.session()
        code = form.code.data or ""
        try:
            user = sign_in.enter_code(dbs, key, code, utcnow())
        except sign_in.CodeAlreadyUsed:
            dbs.commit()  # the try counts
            form.code.errors.append(_("This code was already used; wait for the next one."))
        except sign_in.CodeNotCorrect:
            dbs.commit()  # the try counts
            form.code.errors.append(_("The code is not correct. Please try again."))
        except sign_in.TooManyCodes:
            dbs.commit()
            session.pop(PENDING, None)
            flash(_("Too many wrong codes. Please sign in again."), "error")
            return redirect(url_for("auth.login"))
        except sign_in.SignInGone:
            dbs.commit()
            session.pop(PENDING, None)
            flash(_("Please sign in again."), "error")
            return redirect(url_for("auth.login"))
        else:
            dbs.commit()  # with the used time step or recovery code: neither can be replayed
            next_url = session.pop(PENDING).get("next")
            login_user(user)
            if looks_like_recovery_code(code):
                _flash_codes_left(recovery_codes_left(dbs, user))
            return redirect(next_url or home_for(user.role))
    return render_template("auth/login_code.html", form=form)


def _flash_codes_left(left: int) -> None:
    flash(
        ngettext(
            "You signed in with a recovery code. %(num)d recovery code is left; you can make "
            "new ones on the Security page.",
            "You signed in with a recovery code. %(num)d recovery codes are left; you can make "
            "new ones on the Security page.",
            left,
        ),
        "info",
    )


def _show_codes(codes: list[str]) -> Response:
    """The recovery codes, this once: not kept by the browser or any cache."""
    response = make_response(render_template("auth/recovery_codes.html", codes=codes))
    response.headers["Cache-Control"] = "no-store"
    return response


def _commit_and_stay_signed_in() -> None:
    """The change ended the user's sessions (every other browser signs in again); this
    browser, where they made it, carries on with the new session version."""
    db.session().commit()
    # The user itself, not the proxy: Flask-Login keeps what it is given as the current user.
    login_user(current_user._get_current_object())


@bp.route("/account/two-factor")
@role_required(Role.EDITOR)
def two_factor_page() -> str:
    return _page()


def _page(code_form: CodeForm | None = None, renew_form: CodeForm | None = None) -> str:
    """The two-factor page; a refused code form is shown with its errors (and a summary)."""
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
        code_form=code_form or CodeForm(formdata=None),
        renew_form=renew_form or CodeForm(prefix=RENEW_PREFIX, formdata=None),
        codes_left=recovery_codes_left(db.session(), user) if user.two_factor else None,
        may_switch_off=user.role != Role.ADMIN,
    )


def _refused(form: CodeForm, message: str) -> str:
    form.code.errors = [*form.code.errors, message]
    return _refusal_page(form)


def _refusal_page(form: CodeForm) -> str:
    """The page again with the refused form in its place (the renewal form has a prefix);
    answered 200, as the sign-in's code step answers a wrong code."""
    if form.code.name.startswith(RENEW_PREFIX):
        return _page(renew_form=form)
    return _page(code_form=form)


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
    if not form.validate_on_submit():
        return _refusal_page(form)
    try:
        codes = two_factor.confirm_enrolment(db.session(), current_user, form.code.data or "")
    except TwoFactorError:
        db.session().rollback()
        return _refused(form, _("The code is not correct. Please try again."))
    _commit_and_stay_signed_in()
    flash(_("Two-factor sign-in is on. Signing in now asks for a code."), "ok")
    return _show_codes(codes)


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
@role_required(Role.EDITOR)
def recovery_codes_renew() -> str | Response:
    form = CodeForm(prefix=RENEW_PREFIX)
    if not form.validate_on_submit():
        return _refusal_page(form)
    try:
        codes = two_factor.renew_recovery_codes(db.session(), current_user, form.code.data or "")
    except CodeReused:
        db.session().rollback()
        return _refused(form, _("This code was already used; wait for the next one."))
    except TwoFactorError:
        db.session().rollback()
        return _refused(form, _("The code is not correct. Please try again."))
    db.session().commit()
    return _show_codes(codes)


@bp.route("/account/two-factor/off", methods=["POST"])
@role_required(Role.EDITOR)
def two_factor_off() -> str | Response:
    form = CodeForm()
    if not form.validate_on_submit():
        return _refusal_page(form)
    try:
        two_factor.switch_off(db.session(), current_user, form.code.data or "")
    except TwoFactorError:
        db.session().rollback()
        return _refused(
            form,
            _("Two-factor sign-in stays on: the code is not correct, or admins must keep it."),
        )
    _commit_and_stay_signed_in()
    flash(_("Two-factor sign-in is off."), "ok")
    return redirect(url_for("auth.two_factor_page"))
