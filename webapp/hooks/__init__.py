"""Endpoints other services call: SES events through SNS."""

from flask import Blueprint

bp = Blueprint("hooks", __name__)

from webapp.hooks import routes  # noqa: E402,F401
