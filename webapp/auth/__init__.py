"""Console sign-in and sign-out, two-factor sign-in and password reset."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from webapp.auth import password_reset, routes, two_factor  # noqa: E402,F401  (attach to bp)
