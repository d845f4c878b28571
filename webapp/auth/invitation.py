"""/invitation/<signed>: an invited console user chooses their password.

In the console's look, apart from the password reset's pages; an expired, used or broken link
each has its own page that says what to do.
"""

from __future__ import annotations

from flask import render_template
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from webapp import db
from webapp.accounts.invitations import (
    MAX_AGE,
    InvitationExpired,
    InvitationLinkError,
    InvitationUsed,
    accept_invitation,
    read_invitation,
)
from webapp.auth import bp
from webapp.auth.forms import NewPasswordForm
from webapp.auth.password_reset import save_new_password
from webapp.config import current_settings
from webapp.extensions import limiter
from webapp.models import Role


def _link_problem(error: InvitationLinkError) -> tuple[str, int]:
    if isinstance(error, InvitationExpired):
        page = "auth/invitation_expired.html"
    elif isinstance(error, InvitationUsed):
        page = "auth/invitation_used.html"
    else:
        page = "auth/invitation_invalid.html"
    return render_template(page, inviter=error.inviter, days=MAX_AGE.days), 410


@bp.route("/invitation/<signed>", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def invitation(signed: str) -> str | tuple[str, int] | Response:
    session = db.session()
    try:
        invited = read_invitation(session, current_settings().secret_key, signed)
    except InvitationLinkError as error:
        return _link_problem(error)
    form = NewPasswordForm()
    saved = save_new_password(
        form, lambda password: accept_invitation(session, invited, password),
        _("Your password is saved. Please sign in."),
    )
    if saved is not None:
        return saved
    user = invited.user
    return render_template(
        "auth/invitation.html",
        form=form,
        email=user.email,
        inviter=invited.inviter,
        role_label=_("Admin") if user.role == Role.ADMIN else _("Editor"),
    )
