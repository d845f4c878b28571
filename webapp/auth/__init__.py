"""Console sign-in and sign-out, two-factor sign-in, invitations and password reset."""

from flask import Blueprint, url_for

from webapp.models import Role

bp = Blueprint("auth", __name__)


def home_for(role: Role) -> str:
    """Where a console user lands after signing in (both sign-in steps send them there)."""
    return url_for("admin.home") if role == Role.ADMIN else url_for("editor.home")


from webapp.auth import (  # noqa: E402,F401  (attach to bp)
    invitation,
    password_reset,
    routes,
    two_factor,
)
