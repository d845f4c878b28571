"""Console users: add (with a password shown once, or by an emailed invitation), invite again,
change roles, deactivate, reset two-factor sign-in."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from webapp import db
from webapp.accounts.invitations import queue_invitation
from webapp.accounts.user_admin import (
    change_role,
    invite_again,
    invite_user,
    reset_two_factor,
    set_active,
)
from webapp.accounts.users import UserError, create_user, generate_password, list_users
from webapp.admin import bp
from webapp.admin.forms import ButtonForm, NewUserForm, RoleForm
from webapp.admin.refusals import explain, show_on
from webapp.config import current_settings
from webapp.extensions import current_language
from webapp.models import Role, User


def _user(user_id: int) -> User:
    user = db.session().get(User, user_id)
    if user is None:
        abort(404)
    return user


def _page(form: NewUserForm) -> str:
    return render_template(
        "admin/users.html",
        users=list_users(db.session()),
        form=form,
        button=ButtonForm(),
    )


@bp.route("/users", methods=["GET", "POST"])
def users() -> str | Response:
    session = db.session()
    form = NewUserForm()
    if form.validate_on_submit():
        role = Role(form.role.data)
        password = generate_password()
        try:
            if form.mode.data == "password":
                user = create_user(
                    session, form.email.data or "", role, password, actor=current_user
                )
            else:
                user = invite_user(session, form.email.data or "", role, actor=current_user)
                queue_invitation(
                    session, current_settings(), user, current_language(), inviter=current_user
                )
        except UserError as error:
            session.rollback()
            show_on(form, error, "email")
            return _page(form)
        session.commit()
        if form.mode.data == "password":
            # The one exception to Post/Redirect/Get: the password exists only in this answer
            # (a redirect would have to carry it in the session cookie). Never cached; a
            # reload asks the browser to resubmit and is refused as an existing address.
            shown = make_response(
                render_template("admin/user_created.html", user=user, password=password)
            )
            shown.headers["Cache-Control"] = "no-store"
            return shown
        flash(
            _(
                "%(email)s is invited: they get an email with a link to choose a password.",
                email=user.email,
            ),
            "ok",
        )
        return redirect(url_for("admin.users"))
    return _page(form)


def _attempt(change: Callable[[], bool]) -> None:
    session = db.session()
    try:
        changed = change()
    except UserError as error:
        session.rollback()
        flash(explain(error), "error")
    else:
        if changed:
            session.commit()
            flash(_("Saved."), "ok")


@bp.route("/users/<int:user_id>/invite-again", methods=["POST"])
def user_invite_again(user_id: int) -> Response:
    user = _user(user_id)
    if ButtonForm().validate_on_submit():
        session = db.session()
        try:
            invite_again(session, user, actor=current_user)
            queue_invitation(
                session, current_settings(), user, current_language(), inviter=current_user
            )
        except UserError as error:
            session.rollback()
            flash(explain(error), "error")
        else:
            session.commit()
            flash(_("%(email)s gets a new invitation.", email=user.email), "ok")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/role", methods=["POST"])
def user_role(user_id: int) -> Response:
    user = _user(user_id)
    form = RoleForm()
    if form.validate_on_submit():
        _attempt(lambda: change_role(db.session(), user, Role(form.role.data), actor=current_user))
    elif form.is_submitted():
        flash(_("Choose a role: editor or admin."), "error")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
def user_deactivate(user_id: int) -> Response:
    user = _user(user_id)
    if ButtonForm().validate_on_submit():
        _attempt(lambda: set_active(db.session(), user, False, actor=current_user))
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/activate", methods=["POST"])
def user_activate(user_id: int) -> Response:
    user = _user(user_id)
    if ButtonForm().validate_on_submit():
        _attempt(lambda: set_active(db.session(), user, True, actor=current_user))
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/reset-two-factor", methods=["POST"])
def user_reset_two_factor(user_id: int) -> Response:
    user = _user(user_id)
    if ButtonForm().validate_on_submit():
        _attempt(lambda: reset_two_factor(db.session(), user, actor=current_user))
    return redirect(url_for("admin.users"))
